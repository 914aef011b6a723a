/**
 * A local stand-in for our back end's mini-program API (node http on 127.0.0.1), answering with the same JSON
 * shapes as channels/wechat/api.py and channels/wechat/miniprogram_api.py, with a scripted bot.
 * Tests arrange petitions, errors and agent messages on it and read back what the mini-program sent.
 */

const http = require('http')

const STATUS_NAMES = {
  registered: ['已登记', 'registered'], accepted: ['已受理', 'accepted'], assigned: ['已交办', 'assigned'],
  in_progress: ['办理中', 'in progress'], replied: ['已答复', 'replied'], closed: ['已办结', 'closed'],
  review_requested: ['已申请复查', 'review requested'],
}

function statusName(status, locale) {
  const names = STATUS_NAMES[status] || [status, status]
  return String(locale || '').startsWith('en') ? names[1] : names[0]
}

/** Split a multipart/form-data body into its fields and its file. */
function parseMultipart(body, contentType) {
  const match = /boundary=([^;]+)/.exec(contentType || '')
  const fields = {}
  let file = null
  if (!match) return {fields, file}
  const boundary = Buffer.from(`--${match[1]}`)
  let start = body.indexOf(boundary)
  while (start >= 0) {
    const next = body.indexOf(boundary, start + boundary.length)
    if (next < 0) break
    const part = body.slice(start + boundary.length + 2, next - 2)
    const split = part.indexOf('\r\n\r\n')
    const head = part.slice(0, split).toString('utf8')
    const content = part.slice(split + 4)
    const name = /name="([^"]+)"/.exec(head)
    const filename = /filename="([^"]*)"/.exec(head)
    if (name && filename) file = {field: name[1], filename: filename[1], content}
    else if (name) fields[name[1]] = content.toString('utf8')
    start = next
  }
  return {fields, file}
}

class StandIn {
  constructor() {
    this.requests = []
    this.tokens = {}
    this.codes = {}
    this.users = {}
    this.failures = []
    this.transcript = '我家楼下烧烤店油烟很大'
    this.tokenCount = 0
    this.server = http.createServer((req, res) => this.handle(req, res))
  }

  /** @returns {Promise<StandIn>} */
  start() {
    return new Promise(resolve => this.server.listen(0, '127.0.0.1', () => resolve(this)))
  }

  stop() {
    return new Promise(resolve => this.server.close(() => resolve()))
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.server.address().port}`
  }

  user(openid) {
    if (!this.users[openid]) this.users[openid] = {seq: 0, messages: [], seen: {}, petitions: []}
    return this.users[openid]
  }

  /** Answer the next request to a path (regex) with an error. */
  failNext(pathPattern, status, detail) {
    this.failures.push({pathPattern, status, detail})
  }

  /** Let an agent write to a user outside any turn (it arrives through the history). */
  pushAgentMessage(openid, text) {
    this._record(this.user(openid), 'out', 'agent', text, [])
  }

  /** Add a petition of this user, with defaults for what the test leaves out. */
  addPetition(openid, fields) {
    const p = Object.assign({
      tracking_no: `XF-20250301-00000${this.user(openid).petitions.length + 1}`, title: '楼下烧烤店油烟扰民',
      status: 'registered', received_at: '2025-03-01T02:00:00+00:00', due_at: '2025-03-18T15:59:59+00:00',
      unit: null, replies: [], content: '我家楼下的烧烤店每天晚上油烟很大。', address: '枫林三路12号',
      demand: '安装油烟净化器', supplements: [],
      events: [{action: 'register', status: 'registered', at: '2025-03-01T02:00:00+00:00', unit: null, due_at: null,
        reason: null, satisfied: null, into: null}],
      can_feedback: false, feedback_due_at: null, can_request_review: false, review_request_due_at: null,
      can_supplement: true,
    }, fields)
    this.user(openid).petitions.unshift(p)
    return p
  }

  _record(user, direction, author, text, quick) {
    user.seq += 1
    const message = {seq: user.seq, direction, author, text, quick_replies: quick,
      created_at: new Date().toISOString()}
    user.messages.push(message)
    return message
  }

  /** The scripted bot: a start phrase opens an intake, anything else is acknowledged. */
  _turn(user, messageId, text, locale) {
    if (user.seen[messageId]) return user.seen[messageId]
    this._record(user, 'in', 'citizen', text, [])
    const en = String(locale || '').startsWith('en')
    let reply
    if (/我要反映问题|File a complaint/.test(text)) {
      reply = en ? ['Sure. What happened?', []] : ['好的，请您说说发生了什么？', []]
    } else if (/^我的位置|^My location/.test(text)) {
      reply = en ? ['Got the place. When did it start?', []] : ['收到地址。问题是从什么时候开始的？', ['今天', '一周前']]
    } else {
      reply = en ? [`Noted: ${text}`, ['Yes', 'No']] : [`收到：${text}`, ['是', '否']]
    }
    const out = this._record(user, 'out', 'bot', reply[0], reply[1])
    const answer = {replies: [{text: out.text, quick_replies: out.quick_replies, seq: out.seq}]}
    user.seen[messageId] = answer
    return answer
  }

  _progress(p, locale) {
    return {
      tracking_no: p.tracking_no, status: p.status, status_name: statusName(p.status, locale), due_at: p.due_at,
      events: p.events, can_feedback: p.can_feedback, feedback_due_at: p.feedback_due_at,
      can_request_review: p.can_request_review, review_request_due_at: p.review_request_due_at,
      can_supplement: p.can_supplement,
    }
  }

  _petitionOut(p, locale, detail) {
    const out = {tracking_no: p.tracking_no, title: p.title, status: p.status, status_name: statusName(p.status, locale),
      received_at: p.received_at, due_at: p.due_at, unit: p.unit, replies: p.replies}
    if (detail) Object.assign(out, {content: p.content, address: p.address, demand: p.demand, supplements: p.supplements})
    return out
  }

  _event(p, action, extra) {
    p.events.push(Object.assign({action, status: p.status, at: new Date().toISOString(), unit: null, due_at: null,
      reason: null, satisfied: null, into: null}, extra))
  }

  handle(req, res) {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const url = new URL(req.url, 'http://standin')
      const record = {method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams),
        headers: req.headers, json: null, form: null}
      if ((req.headers['content-type'] || '').startsWith('application/json') && raw.length) {
        try {
          record.json = JSON.parse(raw.toString('utf8'))
        } catch (e) {
          record.json = null
        }
      }
      if ((req.headers['content-type'] || '').startsWith('multipart/form-data')) {
        record.form = parseMultipart(raw, req.headers['content-type'])
      }
      this.requests.push(record)
      const reply = (status, body) => {
        const text = JSON.stringify(body)
        res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
        res.end(text)
      }
      const failure = this.failures.findIndex(f => f.pathPattern.test(url.pathname))
      if (failure >= 0) {
        const f = this.failures.splice(failure, 1)[0]
        return reply(f.status, {detail: f.detail})
      }
      try {
        return this.route(record, reply)
      } catch (err) {
        return reply(500, {detail: String(err)})
      }
    })
  }

  route(r, reply) {
    const base = '/api/v1/miniprogram'
    if (r.method === 'POST' && r.path === `${base}/login`) {
      const code = r.json && r.json.code
      if (!code || !/^[A-Za-z0-9_-]+$/.test(code)) return reply(422, {detail: [{loc: ['body', 'code'], msg: 'bad'}]})
      if (code === 'used') return reply(401, {detail: 'the login code is invalid or already used; call wx.login() again'})
      const openid = this.codes[code] || 'o_standin_user_0000000001'
      this.tokenCount += 1
      const token = `tok${this.tokenCount}.${openid}`
      this.tokens[token] = openid
      return reply(200, {token, token_type: 'Bearer', expires_in: 604800})
    }
    const auth = /^Bearer (.+)$/.exec(r.headers.authorization || '')
    const openid = auth && this.tokens[auth[1]]
    if (!openid) return reply(401, {detail: 'log in first: POST /api/v1/miniprogram/login'})
    const user = this.user(openid)
    const locale = (r.json && r.json.locale) || r.query.locale || (r.form && r.form.fields.locale) || 'zh-CN'
    if (r.method === 'POST' && r.path === `${base}/chat`) {
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(r.json.message_id || '')) return reply(422, {detail: 'message_id'})
      return reply(200, this._turn(user, r.json.message_id, r.json.text || '', locale))
    }
    if (r.method === 'GET' && r.path === `${base}/chat/history`) {
      const after = Number(r.query.after || 0)
      return reply(200, {messages: user.messages.filter(m => m.seq > after)})
    }
    if (r.method === 'POST' && r.path === `${base}/chat/media`) {
      const {fields, file} = r.form
      if (!file || !file.content.length) return reply(422, {detail: 'the file is empty'})
      if (fields.kind === 'voice') {
        const answer = this._turn(user, fields.message_id, this.transcript, locale)
        return reply(200, Object.assign({transcript: this.transcript}, answer))
      }
      return reply(200, Object.assign({transcript: null}, this._turn(user, fields.message_id, '', locale)))
    }
    if (r.method === 'POST' && r.path === `${base}/chat/location`) {
      const label = [r.json.address, r.json.name].filter(Boolean).join(' ')
      const text = `我的位置：${label || `${r.json.latitude},${r.json.longitude}`}`
      return reply(200, Object.assign({transcript: null}, this._turn(user, r.json.message_id, text, locale)))
    }
    if (r.method === 'GET' && r.path === `${base}/petitions`) {
      return reply(200, {petitions: user.petitions.map(p => this._petitionOut(p, locale, false))})
    }
    const one = new RegExp(`^${base}/petitions/([^/]+)(/[a-z/]+)?$`).exec(r.path)
    const p = one && user.petitions.find(x => x.tracking_no === decodeURIComponent(one[1]))
    if (!p) return reply(404, {detail: 'no petition with this tracking number for this user'})
    const sub = one[2] || ''
    if (r.method === 'GET' && sub === '') return reply(200, this._petitionOut(p, locale, true))
    if (r.method === 'GET' && sub === '/timeline') return reply(200, this._progress(p, locale))
    if (r.method === 'POST' && sub === '/feedback') {
      if (!p.can_feedback) return reply(409, {detail: 'feedback on this reply has already been given'})
      if (!r.json.satisfied && !(r.json.reason || '').trim()) return reply(422, {detail: 'say why you are not satisfied'})
      this._event(p, 'feedback', {satisfied: r.json.satisfied, reason: r.json.reason})
      p.can_feedback = false
      if (r.json.satisfied) {
        p.status = 'closed'
        p.can_request_review = false
        p.can_supplement = false
        p.review_request_due_at = null
        this._event(p, 'close')
      }
      return reply(200, this._progress(p, locale))
    }
    if (r.method === 'POST' && sub === '/review') {
      if (!p.can_request_review) return reply(409, {detail: 'the window to request review closed'})
      p.status = 'review_requested'
      p.can_request_review = false
      p.review_request_due_at = null
      this._event(p, 'request_review', {reason: r.json.reason, due_at: '2025-05-20T15:59:59+00:00'})
      return reply(200, this._progress(p, locale))
    }
    if (r.method === 'POST' && sub === '/supplements') {
      p.supplements.push({text: r.json.text, attachments: 0, created_at: new Date().toISOString()})
      this._event(p, 'supplement')
      return reply(200, this._progress(p, locale))
    }
    if (r.method === 'POST' && sub === '/supplements/image') {
      p.supplements.push({text: r.form.fields.text || '', attachments: 1, created_at: new Date().toISOString()})
      this._event(p, 'supplement')
      return reply(200, this._progress(p, locale))
    }
    return reply(404, {detail: 'Not Found'})
  }
}

module.exports = {StandIn, parseMultipart}
