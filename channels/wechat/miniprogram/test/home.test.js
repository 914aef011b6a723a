const {config} = require('../src/utils/config')
const session = require('../src/services/session')
const {StandIn} = require('./standin')
const {fake} = require('./wx-fake')
const {openPage, textOf, tap} = require('./helpers')

let standin

beforeAll(async () => {
  standin = await new StandIn().start()
  config.baseUrl = standin.baseUrl
})

afterAll(() => standin.stop())

test('home in Chinese: start, my petitions, the policy notice; no conversation to continue yet', async () => {
  fake.loginCodes.push('home-first-login')
  standin.codes['home-first-login'] = 'o_home_user_0000000000001'
  const page = openPage('home')
  await page.instance.ready
  expect(fake.titles[0]).toBe('信访服务')
  expect(textOf(page)).toContain('我要反映问题')
  expect(textOf(page)).toContain('我的信访件')
  expect(page.querySelector('#continue')).toBeFalsy()
  expect(page.querySelector('#policy')).toBeFalsy()
  await tap(page, '#policy-toggle')
  expect(textOf(page, '#policy')).toContain('30 日内申请复查')
  expect(textOf(page, '#policy')).toContain('加密保存')
  await tap(page, '#start')
  await tap(page, '#mine')
  expect(fake.navigations).toEqual(['/pages/chat/chat?intent=new', '/pages/petitions/petitions'])
})

test('a conversation in progress can be continued', async () => {
  fake.loginCodes.push('home-second-login')
  standin.codes['home-second-login'] = 'o_home_user_0000000000002'
  const user = standin.user('o_home_user_0000000000002')
  standin._turn(user, 'earlier-000001', '我要反映问题', 'zh-CN')
  const page = openPage('home')
  await page.instance.ready
  expect(textOf(page, '#continue')).toContain('继续上次对话')
  expect(textOf(page, '#continue')).toContain('好的，请您说说发生了什么？')
  await tap(page, '#continue')
  expect(fake.navigations).toEqual(['/pages/chat/chat'])
})

test('English on switch; logging out leaves only the language choice on the phone', async () => {
  const page = openPage('home')
  await page.instance.ready
  expect(wx.getStorageInfoSync().keys).toEqual([session.STORAGE_KEY])
  await tap(page, '#lang')
  expect(textOf(page)).toContain('File a complaint')
  expect(textOf(page)).toContain('My petitions')
  expect(fake.titles[fake.titles.length - 1]).toBe('Petitions')
  await tap(page, '#logout')
  expect(fake.toasts).toEqual(['Logged out; nothing of your login is kept on this phone'])
  expect(wx.getStorageInfoSync().keys).toEqual(['petition.locale'])
  expect(session.isLoggedIn()).toBe(false)
})

test('an unreachable server is said plainly', async () => {
  fake.offline = true
  const page = openPage('home')
  await page.instance.ready
  expect(textOf(page, '#error')).toBe('网络不可用，请稍后重试')
})
