const {config} = require('../src/utils/config')
const i18n = require('../src/utils/i18n')
const {StandIn} = require('./standin')
const {fake} = require('./wx-fake')
const {openPage, textOf, tap} = require('./helpers')

let standin
let openid
let count = 0

beforeAll(async () => {
  standin = await new StandIn().start()
  config.baseUrl = standin.baseUrl
})

afterAll(() => standin.stop())

beforeEach(() => {
  count += 1
  openid = `o_list_user_${String(count).padStart(13, '0')}`
  fake.loginCodes.push(`list-login-${count}`)
  standin.codes[`list-login-${count}`] = openid
})

test('my petitions: status label, unit and the next deadline; a tap opens the detail', async () => {
  const soon = new Date(Date.now() + 2 * 24 * 3600 * 1000).toISOString()
  standin.addPetition(openid, {tracking_no: 'XF-20250301-000001', title: '小区物业乱收费', status: 'closed', due_at: null,
    unit: '岳麓区人民政府'})
  standin.addPetition(openid, {tracking_no: 'XF-20250302-000002', title: '楼下烧烤店油烟扰民', status: 'in_progress',
    due_at: soon, unit: '岳麓区人民政府'})
  standin.addPetition(openid, {tracking_no: 'XF-20250303-000003', title: '路灯不亮', status: 'registered',
    due_at: '2025-03-05T15:59:59+00:00'})
  const page = openPage('petitions')
  await page.instance.ready
  const cards = page.querySelectorAll('.petition').map(c => c.dom.textContent.replace(/\s+/g, ' ').trim())
  expect(cards).toHaveLength(3)
  expect(cards[0]).toMatch(/^XF-20250303-000003已登记路灯不亮待交办登记于 2025-03-012025-03-05 到期（已超期 \d+ 天）$/)
  expect(cards[1]).toContain('办理中')
  expect(cards[1]).toContain('办理单位：岳麓区人民政府')
  expect(cards[1]).toContain('（剩 2 天）')
  expect(cards[2]).toContain('已办结')
  expect(cards[2]).not.toContain('到期')
  expect(page.querySelectorAll('.deadline').map(d => d.dom.className)).toEqual(
    expect.arrayContaining([expect.stringContaining('overdue'), expect.stringContaining('soon')]))
  await tap(page, '.petition', 1)
  expect(fake.navigations).toEqual(['/pages/detail/detail?no=XF-20250302-000002'])
  page.instance.onPullDownRefresh()
  await page.instance.ready
  expect(fake.pullDownStops).toBe(1)
})

test('no petitions yet: an invitation to file one', async () => {
  const page = openPage('petitions')
  await page.instance.ready
  expect(textOf(page, '#empty')).toContain('您还没有通过小程序提交过信访件')
  await tap(page, '#start')
  expect(fake.navigations).toEqual(['/pages/chat/chat?intent=new'])
})

test('in English, and a server error is shown', async () => {
  i18n.setLocale('en')
  standin.addPetition(openid, {status: 'replied', due_at: null})
  let page = openPage('petitions')
  await page.instance.ready
  expect(textOf(page, '.petition')).toContain('Replied')
  expect(standin.requests.filter(r => r.path.endsWith('/petitions')).pop().query.locale).toBe('en')
  standin.failNext(/\/petitions$/, 503, 'database unavailable')
  page = openPage('petitions')
  await page.instance.ready
  expect(textOf(page, '#error')).toBe('The service is unavailable; try again later')
})
