const {config} = require('../src/utils/config')
const i18n = require('../src/utils/i18n')
const {StandIn} = require('./standin')
const {fake, recorderManager} = require('./wx-fake')
const {openPage, textOf, tap, tempFile, until, simulate} = require('./helpers')

const MP3 = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'binary'), Buffer.alloc(2048)])
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(256)])
let standin
let openid
let count = 0
let page

beforeAll(async () => {
  standin = await new StandIn().start()
  config.baseUrl = standin.baseUrl
})

afterAll(() => standin.stop())

beforeEach(() => {
  // A fresh WeChat user per test, logged in through the stand-in.
  count += 1
  openid = `o_chat_user_${String(count).padStart(13, '0')}`
  fake.loginCodes.push(`chat-login-${count}`)
  standin.codes[`chat-login-${count}`] = openid
  standin.requests = []
  config.pollIntervalMs = 5000
})

afterEach(() => {
  if (page) page.instance.onUnload()
  page = null
})

function sent(path) {
  return standin.requests.filter(r => r.path === `/api/v1/miniprogram${path}`)
}

function bubbles() {
  return page.querySelectorAll('.bubble').map(b => b.dom.textContent.replace(/\s+/g, ' ').trim())
}

test('"start a petition" opens the intake in Chinese through our API', async () => {
  page = openPage('chat', {intent: 'new'})
  await page.instance.ready
  const [call] = sent('/chat')
  expect(call.json).toMatchObject({text: '我要反映问题', locale: 'zh-CN'})
  expect(call.json.message_id).toMatch(/^[A-Za-z0-9_-]{8,64}$/)
  expect(call.headers.authorization).toMatch(/^Bearer tok\d+\./)
  expect(bubbles()).toEqual(['我要反映问题', '好的，请您说说发生了什么？'])
  expect(page.querySelectorAll('.line.mine')).toHaveLength(1)
})

test('the conversation resumes where it stopped; quick replies are buttons that answer', async () => {
  const user = standin.user(openid)
  standin._turn(user, 'earlier-000001', '烧烤店', 'zh-CN')
  page = openPage('chat')
  await page.instance.ready
  expect(bubbles()).toEqual(['烧烤店', '收到：烧烤店'])
  const buttons = page.querySelectorAll('.quick-reply')
  expect(buttons.map(b => b.dom.textContent.trim())).toEqual(['是', '否'])
  await tap(page, '.quick-reply', 1)
  await until(() => bubbles().length === 4)
  expect(sent('/chat').map(c => c.json.text)).toEqual(['否'])
  expect(bubbles().slice(2)).toEqual(['否', '收到：否'])
})

test('typing and sending; a failed send is retried with the same message id and shown once', async () => {
  page = openPage('chat')
  await page.instance.ready
  page.querySelector('.input').dispatchEvent('input', {detail: {value: '  油烟很大  '}})
  await simulate.sleep(0)
  standin.failNext(/\/chat$/, 503, 'database unavailable, try again shortly')
  await tap(page, '#send')
  await until(() => textOf(page).includes('发送失败'))
  expect(page.data.draft).toBe('')
  expect(textOf(page, '.failed-note')).toBe('服务暂时不可用，请稍后重试 · 发送失败，点此重试')
  await tap(page, '.failed-note')
  await until(() => bubbles().length === 2)
  const ids = sent('/chat').map(c => c.json.message_id)
  expect(ids).toHaveLength(2)
  expect(ids[0]).toBe(ids[1])
  expect(bubbles()).toEqual(['油烟很大', '收到：油烟很大'])
  expect(page.querySelector('.failed-note')).toBeFalsy()
})

test('voice: hold to record with the recorder, release to upload it for our transcriber', async () => {
  page = openPage('chat')
  await page.instance.ready
  await tap(page, '#mode')
  fake.recording = {path: tempFile('voice.mp3', MP3), duration: 3200}
  page.querySelector('#talk').dispatchEvent('touchstart')
  await simulate.sleep(0)
  expect(page.data.recording).toBe(true)
  expect(textOf(page, '#talk')).toBe('松开 发送')
  expect(fake.recorderStarts).toEqual([{duration: 60000, sampleRate: 16000, numberOfChannels: 1,
    encodeBitRate: 48000, format: 'mp3'}])
  page.querySelector('#talk').dispatchEvent('touchend')
  await until(() => bubbles().length === 2)
  const [upload] = sent('/chat/media')
  expect(upload.form.fields).toMatchObject({kind: 'voice', locale: 'zh-CN'})
  expect(upload.form.file.content.equals(MP3)).toBe(true)
  expect(upload.headers.authorization).toMatch(/^Bearer /)
  expect(bubbles()).toEqual(['〔语音〕我家楼下烧烤店油烟很大', '收到：我家楼下烧烤店油烟很大'])
  expect(page.data.recording).toBe(false)
})

test('voice: too short is not sent; nothing heard is withdrawn with a message', async () => {
  page = openPage('chat')
  await page.instance.ready
  await tap(page, '#mode')
  fake.recording = {path: tempFile('short.mp3', MP3), duration: 300}
  page.querySelector('#talk').dispatchEvent('touchstart')
  page.querySelector('#talk').dispatchEvent('touchend')
  await until(() => fake.toasts.length === 1)
  expect(fake.toasts).toEqual(['说话时间太短'])
  expect(sent('/chat/media')).toHaveLength(0)

  fake.recording = {path: tempFile('silence.mp3', MP3), duration: 2000}
  standin.failNext(/\/chat\/media$/, 422, 'no speech could be made out in the recording; say it again or type it')
  page.querySelector('#talk').dispatchEvent('touchstart')
  page.querySelector('#talk').dispatchEvent('touchend')
  await until(() => fake.toasts.length === 2)
  expect(fake.toasts[1]).toBe('没有听清，请再说一遍或直接打字')
  expect(bubbles()).toEqual([])
})

test('voice: a phone without a microphone says so', async () => {
  page = openPage('chat')
  await page.instance.ready
  await tap(page, '#mode')
  fake.recording = null
  page.querySelector('#talk').dispatchEvent('touchstart')
  page.querySelector('#talk').dispatchEvent('touchend')
  await until(() => fake.toasts.length === 1)
  expect(fake.toasts).toEqual(['无法录音，请检查麦克风权限'])
  expect(recorderManager.active).toBe(false)
})

test('a photo is compressed when large and uploaded; a place goes as a location message', async () => {
  page = openPage('chat')
  await page.instance.ready
  const photo = tempFile('photo.png', PNG)
  fake.media = [{tempFilePath: photo, size: 3000000, fileType: 'image'}]
  await tap(page, '#image')
  await until(() => bubbles().length === 2)
  expect(fake.compressed).toEqual([expect.objectContaining({src: photo, quality: 50})])
  const [upload] = sent('/chat/media')
  expect(upload.form.fields.kind).toBe('image')
  expect(upload.form.file.content.equals(PNG)).toBe(true)
  expect(page.querySelector('.photo')).toBeTruthy()

  fake.location = {latitude: 28.2136, longitude: 112.8841, name: '枫林三路12号', address: '湖南省长沙市岳麓区'}
  await tap(page, '#location')
  await until(() => bubbles().length === 4)
  const [place] = sent('/chat/location')
  expect(place.json).toMatchObject({latitude: 28.2136, longitude: 112.8841, name: '枫林三路12号',
    address: '湖南省长沙市岳麓区', locale: 'zh-CN'})
  expect(bubbles().slice(2)).toEqual(['〔位置〕湖南省长沙市岳麓区 枫林三路12号', '收到地址。问题是从什么时候开始的？'])

  fake.location = null // the citizen closes the map
  await tap(page, '#location')
  await simulate.sleep(20)
  expect(sent('/chat/location')).toHaveLength(1)
  expect(fake.toasts).toEqual([])
})

test('messages an agent writes arrive while the chat is open; an invitation opens mediation', async () => {
  config.pollIntervalMs = 40
  page = openPage('chat')
  await page.instance.ready
  standin.pushAgentMessage(openid, '您好，我是工作人员小李。')
  await until(() => bubbles().length === 1)
  expect(textOf(page, '.author')).toBe('工作人员')
  expect(bubbles()).toEqual(['您好，我是工作人员小李。'])
  standin.pushAgentMessage(openid, `请准时参加视频调解：${config.baseUrl}/mediation/join/Tk9x2`)
  await until(() => bubbles().length === 2)
  await tap(page, '.join')
  expect(fake.navigations).toEqual(
    [`/pages/mediation/mediation?url=${encodeURIComponent(`${config.baseUrl}/mediation/join/Tk9x2`)}`])
  page.instance.onHide()
  const polls = sent('/chat/history').length
  await simulate.sleep(150)
  expect(sent('/chat/history').length).toBe(polls) // hidden: no polling
})

test('in English the intake starts in English', async () => {
  i18n.setLocale('en')
  page = openPage('chat', {intent: 'new'})
  await page.instance.ready
  expect(sent('/chat')[0].json).toMatchObject({text: 'File a complaint', locale: 'en'})
  expect(bubbles()).toEqual(['File a complaint', 'Sure. What happened?'])
  expect(textOf(page, '#send')).toBe('Send')
})
