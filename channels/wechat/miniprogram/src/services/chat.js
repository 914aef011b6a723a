/**
 * The chat: a plain state object (messages, quick replies, what is in flight) and a controller that sends
 * the citizen's text, voice, photo or place through the API and folds the bot's replies into that state.
 * The page only renders `view()` and forwards taps.
 */

const api = require('./api')
const http = require('./http')
const i18n = require('../utils/i18n')
const {isMediationUrl} = require('../utils/config')
const {newMessageId} = require('../utils/ids')

const URL_PATTERN = /https?:\/\/[^\s<>"'，。；、）)]+/g

/**
 * Return the first link in a text that is a mediation invitation we may open, or ''.
 * @param {string} text
 * @returns {string}
 */
function findMediationLink(text) {
  const links = String(text || '').match(URL_PATTERN) || []
  for (let i = 0; i < links.length; i++) {
    const link = links[i].replace(/[.,;!?]+$/, '')
    if (isMediationUrl(link)) return link
  }
  return ''
}

/**
 * @typedef {{key: string, id: string, seq: (number|null), direction: 'in'|'out', from: 'me'|'bot'|'agent',
 *   kind: 'text'|'voice'|'image'|'location', text: string, image: string, status: 'sending'|'sent'|'failed',
 *   note: string, mediation: string}} ChatMessage
 */

class ChatState {
  constructor() {
    /** @type {ChatMessage[]} */
    this.messages = []
    this.seen = {}
    this.lastSeq = 0
    /** @type {string[]} */
    this.quickReplies = []
  }

  /** @param {number|null|undefined} seq */
  _see(seq) {
    if (typeof seq !== 'number') return
    this.seen[seq] = true
    if (seq > this.lastSeq) this.lastSeq = seq
  }

  _fromServer(m) {
    const from = m.direction === 'in' ? 'me' : (m.author === 'agent' ? 'agent' : 'bot')
    return {
      key: `s${m.seq}`, id: '', seq: m.seq, direction: m.direction, from, kind: 'text', text: m.text, image: '',
      status: 'sent', note: '', mediation: m.direction === 'out' ? findMediationLink(m.text) : '',
    }
  }

  /**
   * Fold in messages from the server's history; `outOnly` (polling) takes only what the bot or an agent wrote,
   * since the citizen's own messages are already on screen.
   * @param {Array<{seq: number, direction: string, author: string, text: string, quick_replies: string[]}>} list
   * @param {{outOnly?: boolean}} [options]
   * @returns {number} how many messages were new
   */
  addHistory(list, options) {
    const outOnly = Boolean(options && options.outOnly)
    let added = 0
    let last = null
    ;(list || []).slice().sort((a, b) => a.seq - b.seq).forEach(m => {
      if (this.seen[m.seq] || (outOnly && m.direction !== 'out')) {
        this._see(m.seq)
        return
      }
      this._see(m.seq)
      this.messages.push(this._fromServer(m))
      last = m
      added += 1
    })
    if (last) this.quickReplies = last.direction === 'out' ? (last.quick_replies || []).slice() : []
    return added
  }

  /**
   * Show a message the citizen is sending.
   * @param {string} id the message id
   * @param {{kind?: ChatMessage['kind'], text: string, image?: string}} content
   */
  addOutgoing(id, content) {
    this.messages.push({
      key: `l${id}`, id, seq: null, direction: 'in', from: 'me', kind: content.kind || 'text', text: content.text,
      image: content.image || '', status: 'sending', note: '', mediation: '',
    })
    this.quickReplies = []
  }

  _find(id) {
    for (let i = 0; i < this.messages.length; i++) if (this.messages[i].id === id) return this.messages[i]
    return null
  }

  /**
   * Mark a message sent and add the replies it got.
   * @param {string} id
   * @param {Array<{text: string, quick_replies: string[], seq: (number|null)}>} replies
   * @param {string} [shownText] what the message now reads (a voice message shows what was heard)
   */
  confirm(id, replies, shownText) {
    const message = this._find(id)
    if (message) {
      message.status = 'sent'
      message.note = ''
      if (shownText) message.text = shownText
    }
    let last = null
    ;(replies || []).forEach(r => {
      if (typeof r.seq === 'number' && this.seen[r.seq]) return
      this._see(r.seq)
      this.messages.push({
        key: typeof r.seq === 'number' ? `s${r.seq}` : `r${id}-${this.messages.length}`, id: '', seq: r.seq,
        direction: 'out', from: 'bot', kind: 'text', text: r.text, image: '', status: 'sent', note: '',
        mediation: findMediationLink(r.text),
      })
      last = r
    })
    if (last) this.quickReplies = (last.quick_replies || []).slice()
    // Replies move the conversation past the citizen's message: its own seq is below the replies'.
    if (replies && replies.length && typeof replies[0].seq === 'number') this._see(replies[0].seq - 1)
  }

  /** Mark a message not sent, with a note for the citizen. */
  fail(id, note) {
    const message = this._find(id)
    if (message) {
      message.status = 'failed'
      message.note = note
    }
  }

  /** Take a message off the screen (an upload the server refused for good). */
  remove(id) {
    this.messages = this.messages.filter(m => m.id !== id)
  }

  /** Return the data the page renders. */
  view() {
    return {
      messages: this.messages.map(m => Object.assign({}, m)),
      quickReplies: this.quickReplies.slice(),
      lastKey: this.messages.length ? this.messages[this.messages.length - 1].key : '',
    }
  }
}

// Refusals that a retry of the same upload cannot change: the message is withdrawn and the citizen told why.
const FINAL_REFUSALS = [413, 415, 422]

class ChatController {
  /** @param {(view: ReturnType<ChatState['view']>) => void} onChange */
  constructor(onChange) {
    this.state = new ChatState()
    this.onChange = onChange || (() => {})
    this.inFlight = 0
    /** @type {Object<string, () => Promise<*>>} */
    this.resend = {}
  }

  emit() {
    this.onChange(this.state.view())
  }

  /** Load the whole conversation so far (resuming where the citizen left off). */
  async resume() {
    const answer = await api.history(0)
    this.state.addHistory(answer.messages)
    this.emit()
    return answer.messages.length
  }

  /** Fetch what the bot or an agent wrote since; skipped while a message is in flight. */
  async poll() {
    if (this.inFlight) return 0
    const after = this.state.lastSeq
    const answer = await api.history(after)
    if (this.inFlight || after !== this.state.lastSeq) return 0  // a send moved on meanwhile: the next poll sees it
    const added = this.state.addHistory(answer.messages, {outOnly: true})
    if (added) this.emit()
    return added
  }

  async _send(id, content, send, context) {
    this.state.addOutgoing(id, content)
    this.resend[id] = () => this._attempt(id, send, context)
    this.emit()
    return this._attempt(id, send, context)
  }

  async _attempt(id, send, context) {
    this.inFlight += 1
    try {
      const answer = await send()
      this.state.confirm(id, answer.replies, context.shown ? context.shown(answer) : '')
      delete this.resend[id]
      return {ok: true, answer}
    } catch (err) {
      const note = http.errorText(err, context.kind === 'voice' ? 'voice' : undefined)
      if (err && FINAL_REFUSALS.indexOf(err.status) >= 0 && context.kind !== 'text') {
        this.state.remove(id)
        delete this.resend[id]
      } else {
        this.state.fail(id, note)
      }
      return {ok: false, error: err, note}
    } finally {
      this.inFlight -= 1
      this.emit()
    }
  }

  /**
   * Send a typed message (or a quick reply).
   * @param {string} text
   */
  sendText(text) {
    const clean = String(text || '').trim()
    if (!clean) return Promise.resolve({ok: false, note: ''})
    const id = newMessageId()
    return this._send(id, {text: clean}, () => api.sendText(clean, id), {kind: 'text'})
  }

  /**
   * Send a voice recording; the bubble then shows what our speech engine heard.
   * @param {string} filePath
   */
  sendVoice(filePath) {
    const id = newMessageId()
    return this._send(id, {kind: 'voice', text: i18n.t('chat.voiceSent')}, () => api.sendMedia('voice', filePath, id),
      {kind: 'voice', shown: answer => (answer.transcript ? i18n.t('chat.heard', {text: answer.transcript}) : '')})
  }

  /**
   * Send a photo.
   * @param {string} filePath
   */
  sendImage(filePath) {
    const id = newMessageId()
    return this._send(id, {kind: 'image', text: i18n.t('chat.imageSent'), image: filePath},
      () => api.sendMedia('image', filePath, id), {kind: 'image'})
  }

  /**
   * Send a place chosen on the map.
   * @param {{latitude: number, longitude: number, name?: string, address?: string}} place
   */
  sendLocation(place) {
    const id = newMessageId()
    const label = [place.address, place.name].filter(Boolean).join(' ') ||
      `${Number(place.latitude).toFixed(5)},${Number(place.longitude).toFixed(5)}`
    return this._send(id, {kind: 'location', text: i18n.t('chat.locationSent', {label})},
      () => api.sendLocation(place, id), {kind: 'location'})
  }

  /**
   * Send a failed message again, with the same message id (the server answers a repeat only once).
   * @param {string} id
   */
  retry(id) {
    const again = this.resend[id]
    if (!again) return Promise.resolve({ok: false, note: ''})
    const message = this.state._find(id)
    if (message) {
      message.status = 'sending'
      message.note = ''
    }
    this.emit()
    return again()
  }
}

module.exports = {ChatState, ChatController, findMediationLink}
