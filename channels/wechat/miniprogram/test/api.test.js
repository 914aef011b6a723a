const api = require('../src/services/api')
const http = require('../src/services/http')
const session = require('../src/services/session')
const {config} = require('../src/utils/config')
const {StandIn} = require('./standin')
const {fake} = require('./wx-fake')

let standin

beforeAll(async () => {
  standin = await new StandIn().start()
  config.baseUrl = standin.baseUrl
})

afterAll(() => standin.stop())

beforeEach(() => {
  standin.requests = []
})

test('the login flow: wx.login, code2session through our server, the token kept for the session only', async () => {
  fake.loginCodes.push('081Kq4Ga1xXH6G0Asnia1q9mkj3Kq4GO')
  standin.codes['081Kq4Ga1xXH6G0Asnia1q9mkj3Kq4GO'] = 'o_user_one_0000000000001'
  const [a, b] = await Promise.all([session.ensure(), session.ensure()])
  expect(a).toBe(b)
  expect(fake.logins).toBe(1) // two callers, one login
  const login = standin.requests.find(r => r.path === '/api/v1/miniprogram/login')
  expect(login.json).toEqual({code: '081Kq4Ga1xXH6G0Asnia1q9mkj3Kq4GO'})
  expect(login.headers.authorization).toBeUndefined()
  const stored = wx.getStorageSync(session.STORAGE_KEY)
  expect(stored.token).toBe(a)
  expect(stored.expiresAt).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000)
  await api.petitions()
  expect(standin.requests[standin.requests.length - 1].headers.authorization).toBe(`Bearer ${a}`)
  expect(fake.logins).toBe(1)
  session.logout()
  expect(wx.getStorageSync(session.STORAGE_KEY)).toBe('')
  expect(session.isLoggedIn()).toBe(false)
})

test('an expired session logs in again once and the call goes through', async () => {
  await session.ensure()
  standin.tokens = {} // the server no longer knows the token
  const answer = await api.petitions()
  expect(answer).toEqual({petitions: []})
  expect(fake.logins).toBe(2)
  const calls = standin.requests.filter(r => r.path === '/api/v1/miniprogram/petitions')
  expect(calls.map(c => c.headers.authorization)).toHaveLength(2)
  expect(calls[0].headers.authorization).not.toBe(calls[1].headers.authorization)
})

test('errors carry the status and the server reason; no network reads as status 0', async () => {
  standin.failNext(/\/petitions$/, 503, 'database unavailable, try again shortly')
  await expect(api.petitions()).rejects.toMatchObject({status: 503, detail: 'database unavailable, try again shortly'})
  await expect(api.petition('XF-20990101-000001')).rejects.toMatchObject({status: 404})
  fake.offline = true
  const offline = await api.petitions().catch(e => e)
  expect(offline.name).toBe('ApiError')
  expect(offline.status).toBe(0)
  expect(http.errorText(offline)).toBe('网络不可用，请稍后重试')
  expect(http.errorText({status: 422}, 'voice')).toBe('没有听清，请再说一遍或直接打字')
  expect(http.detailOf({detail: [{loc: ['body', 'text'], msg: 'too long'}]})).toBe('body.text: too long')
  expect(http.detailOf('<html>bad gateway</html>')).toBe('<html>bad gateway</html>')
})

test('a refused login code is an error, not a loop', async () => {
  fake.loginCodes.push('used')
  await expect(session.ensure()).rejects.toMatchObject({status: 401})
  expect(http.errorText({status: 401}, 'login')).toBe('登录失败，请稍后重试')
})
