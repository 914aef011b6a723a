/**
 * End to end against our real back end: a fresh SQLite database (`petition init` plus the 长沙 divisions), the
 * server started with uvicorn, WeChat's code2session answered by a tiny local stand-in. The pages log in, file a
 * petition through the chat, find it in "my petitions", and after staff reply give feedback and ask for a review.
 */

const {spawn, spawnSync} = require('child_process')
const fs = require('fs')
const http = require('http')
const net = require('net')
const os = require('os')
const path = require('path')
const {config} = require('../src/utils/config')
const {fake} = require('./wx-fake')
const {openPage, textOf, tap, until, tempFile, simulate} = require('./helpers')

const ROOT = path.resolve(__dirname, '..', '..', '..', '..')
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python')
const APPID = 'wx0a1b2c3d4e5f6a7b'
const SECRET = '9f8e7d6c5b4a39281706f5e4d3c2b1a0'
const OPENID = 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M'
const CLIP = path.resolve(ROOT, '..', 'shared', 'data', 'speech', 'zh_aishell_BAC009S0724W0121.wav')
const MODEL = path.join(ROOT, 'models', 'whisper-base', 'model.bin')

jest.setTimeout(150000)

// The database as `petition init` leaves it, plus what an intake needs: the divisions of 长沙 and one unit.
const PREPARE = `
from server.cli import main
main(["init"], standalone_mode=False)
from cases import catalog
from server.cli import _db
from server.demo_data import changsha_areas
db = _db()
with db.transaction() as s:
    catalog.upsert_areas(s, changsha_areas())
    catalog.upsert_unit(s, code="YL-GOV", name="岳麓区人民政府", name_en="Yuelu District Government",
                        level="district", area_codes=["430104"])
`

// The app exactly as server/app.py builds it.
const SERVE = `
import sys, uvicorn
from server.app import create_app
app = create_app()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
`

// What the handling unit does, straight on the database: accept, assign, start, reply.
const REPLY = `
import sys
from cases import service
from cases.schemas import TransitionIn
from core.accounts import SYSTEM
from server.cli import _db
db = _db()
with db.transaction() as s:
    for change in (TransitionIn(action="accept"), TransitionIn(action="assign", unit="YL-GOV", reason="属地"),
                   TransitionIn(action="start"), TransitionIn(action="reply", text="已责令烧烤店安装油烟净化器。")):
        service.do_transition(s, tracking_no=sys.argv[1], actor=SYSTEM, change=change)
`

let tmp
let server
let serverLog = ''
let wechat
const logins = {}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const {port} = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** WeChat's code2session, as far as our server uses it. */
function startWeChat() {
  const standin = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://wechat')
    const q = Object.fromEntries(url.searchParams)
    let body
    if (url.pathname !== '/sns/jscode2session') body = {errcode: 40001, errmsg: 'not served here'}
    else if (q.appid !== APPID || q.secret !== SECRET || q.grant_type !== 'authorization_code') {
      body = {errcode: 40125, errmsg: 'invalid appsecret'}
    } else if (!logins[q.js_code]) body = {errcode: 40029, errmsg: 'invalid code'}
    else {
      body = {openid: logins[q.js_code], session_key: 'tiihtNczf5v6AKRyjwEUhQ=='}
      delete logins[q.js_code] // a code works once
    }
    res.writeHead(200, {'content-type': 'application/json'})
    res.end(JSON.stringify(body))
  })
  return new Promise(resolve => standin.listen(0, '127.0.0.1', () => resolve(standin)))
}

function python(env, script, args) {
  const run = spawnSync(PYTHON, ['-c', script].concat(args || []), {cwd: ROOT, env, encoding: 'utf8', timeout: 90000})
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}\n${run.stdout}`)
  return run.stdout
}

async function waitForHealth(base) {
  const deadline = Date.now() + 90000
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited: ${serverLog}`)
    const ok = await new Promise(resolve => {
      http.get(`${base}/healthz`, res => {
        res.resume()
        resolve(res.statusCode === 200)
      }).on('error', () => resolve(false))
    })
    if (ok) return
    await simulate.sleep(200)
  }
  throw new Error(`the server did not come up: ${serverLog}`)
}

let env

beforeAll(async () => {
  if (!fs.existsSync(PYTHON)) throw new Error(`no virtualenv at ${PYTHON}: run \`make setup\` at the project root`)
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-backend-'))
  wechat = await startWeChat()
  const port = await freePort()
  env = Object.assign({}, process.env, {
    PETITION_DATABASE_URL: `sqlite:///${path.join(tmp, 'petition.db')}`,
    PETITION_WECHAT_API_BASE: `http://127.0.0.1:${wechat.address().port}`,
    PETITION_MINIPROGRAM_APPID: APPID,
    PETITION_MINIPROGRAM_SECRET: SECRET,
    PETITION_ROUTE_ON_REGISTER: 'false',
    PETITION_RISK_ON_REGISTER: 'false',
    PETITION_EMBEDDER: 'lexical',
    PETITION_EMBEDDED_SCHEDULER: 'false',
    PETITION_INDEX_DIR: path.join(tmp, 'index'),
    PETITION_MEDIA_DIR: path.join(tmp, 'media'),
    PETITION_LOG_LEVEL: 'WARNING',
  })
  python(env, PREPARE)
  server = spawn(PYTHON, ['-c', SERVE, String(port)], {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
  server.stdout.on('data', d => { serverLog = (serverLog + d).slice(-4000) })
  server.stderr.on('data', d => { serverLog = (serverLog + d).slice(-4000) })
  config.baseUrl = `http://127.0.0.1:${port}`
  await waitForHealth(config.baseUrl)
})

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM')
    await new Promise(resolve => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL')
        resolve()
      }, 10000)
      server.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
  if (wechat) await new Promise(resolve => wechat.close(resolve))
  if (tmp) fs.rmSync(tmp, {recursive: true, force: true})
})

function bubbles(page) {
  return page.querySelectorAll('.bubble').map(b => b.dom.textContent.replace(/\s+/g, ' ').trim())
}

/** Answer the bot as a citizen would: a quick-reply button when one says it, else typing. */
async function answer(page, text) {
  const before = bubbles(page).length
  const quick = page.querySelectorAll('.quick-reply').findIndex(b => b.dom.textContent.trim() === text)
  if (quick >= 0) {
    await tap(page, '.quick-reply', quick)
  } else {
    page.querySelector('.input').dispatchEvent('input', {detail: {value: text}})
    await simulate.sleep(0)
    await tap(page, '#send')
  }
  await until(() => bubbles(page).length > before + 1 && page.data.messages.every(m => m.status === 'sent'), 30000)
  return bubbles(page).slice(before + 1).join(' ')
}

let trackingNo

test('a citizen logs in, files a petition in the chat and finds it in my petitions', async () => {
  fake.loginCodes.push('081Kq4Ga1xXH6G0Asnia1q9mkj3Kq4GO')
  logins['081Kq4Ga1xXH6G0Asnia1q9mkj3Kq4GO'] = OPENID
  const chat = openPage('chat', {intent: 'new'})
  await chat.instance.ready
  expect(chat.data.error).toBe('')
  expect(bubbles(chat)[1]).toContain('发生了什么')
  const steps = [['我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开', '哪里'], ['岳麓区麓谷街道', '详细地址'],
    ['枫林三路12号', '什么时候'], ['三个月前', '诉求'], ['希望环保部门检查，让他们安装油烟净化器', '多少人'],
    ['就我一个', '反映过'], ['没有', '怎么称呼'], ['我叫张三', '联系电话'], ['13812345678', '隐私说明'], ['同意', '请核对']]
  for (const [text, expected] of steps) {
    expect(await answer(chat, text)).toContain(expected)
  }
  const done = await answer(chat, '确认提交')
  trackingNo = /受理编号：(XF-\d{8}-\d{6})/.exec(done)[1]
  chat.instance.onUnload()
  expect(fake.logins).toBe(1)
  // Only the session (and no conversation, name or phone) is kept on the phone.
  expect(wx.getStorageInfoSync().keys).toEqual(['petition.session'])

  const list = openPage('petitions')
  await list.instance.ready
  const [card] = list.querySelectorAll('.petition').map(c => c.dom.textContent.replace(/\s+/g, ' '))
  expect(card).toContain(trackingNo)
  expect(card).toContain('已登记')
  expect(card).toMatch(/到期（剩 \d+ 天）/)
})

test('after the reply the citizen follows the timeline, is not satisfied and asks for a review', async () => {
  expect(trackingNo).toBeTruthy()
  python(env, REPLY, [trackingNo])
  fake.loginCodes.push('second-login-code-0001') // a new session: the citizen opens the mini-program again
  logins['second-login-code-0001'] = OPENID
  const page = openPage('detail', {no: trackingNo})
  await page.instance.ready
  expect(page.data.error).toBe('')
  expect(textOf(page, '#status')).toBe('已答复')
  expect(page.querySelectorAll('.event-label').map(n => n.dom.textContent.trim())).toEqual(
    ['登记', '已受理', '交办至 岳麓区人民政府', '开始办理', '已答复'])
  expect(textOf(page, '#replies')).toContain('已责令烧烤店安装油烟净化器。')
  expect(textOf(page)).toContain('枫林三路12号')

  page.querySelector('#choice').dispatchEvent('change', {detail: {value: 'no'}})
  await simulate.sleep(0)
  page.querySelector('#reason').dispatchEvent('input', {detail: {value: '晚上油烟还是很大'}})
  await tap(page, '#submit-feedback')
  await until(() => !page.querySelector('#feedback'), 30000)
  expect(page.data.formError).toBe('')
  await tap(page, '#submit-review')
  await until(() => textOf(page, '#status') === '已申请复查', 30000)
  const labels = page.querySelectorAll('.event-label').map(n => n.dom.textContent.trim())
  expect(labels.slice(-2)).toEqual(['评价：不满意', '申请复查'])
  expect(textOf(page, '#timeline')).toContain('理由：晚上油烟还是很大')

  page.querySelector('#supplement-text').dispatchEvent('input', {detail: {value: '附近邻居也受影响'}})
  await tap(page, '#submit-supplement')
  await until(() => Boolean(page.querySelector('#supplements')), 30000)
  expect(textOf(page, '#supplements')).toContain('附近邻居也受影响')

  // Someone else's session sees none of it.
  require('../src/services/session').logout()
  fake.loginCodes.push('someone-else-code-0001')
  logins['someone-else-code-0001'] = 'o6_bmasdasdsad6_2sgVt7hMZOPfL'
  const stranger = openPage('detail', {no: trackingNo})
  await stranger.instance.ready
  expect(textOf(stranger, '#error')).toBe('没有找到这件信访件')
})

const haveSpeech = fs.existsSync(CLIP) && fs.existsSync(MODEL)

;(haveSpeech ? test : test.skip)('a recorded voice message is transcribed by our speech engine', async () => {
  fake.loginCodes.push('voice-login-code-0001')
  logins['voice-login-code-0001'] = OPENID
  const page = openPage('chat')
  await page.instance.ready
  await tap(page, '#mode')
  fake.recording = {path: tempFile('recording.wav', fs.readFileSync(CLIP)), duration: 4000}
  page.querySelector('#talk').dispatchEvent('touchstart')
  page.querySelector('#talk').dispatchEvent('touchend')
  await until(() => page.data.messages.some(m => m.kind === 'voice' && m.status !== 'sending'), 60000)
  page.instance.onUnload()
  const heard = page.data.messages.filter(m => m.kind === 'voice').pop()
  expect(heard.status).toBe('sent')
  // The clip says 广州市房地产中介协会分析; the base model gets most of it (e.g. 广州市佛地产中间协会分析).
  expect(heard.text.startsWith('〔语音〕')).toBe(true)
  const said = Array.from('广州市房地产中介协会分析').filter(ch => heard.text.includes(ch))
  expect(said.length).toBeGreaterThanOrEqual(8)
})
