const {config} = require('../src/utils/config')
const {StandIn} = require('./standin')
const {fake} = require('./wx-fake')
const {openPage, textOf, tap, tempFile, until, simulate} = require('./helpers')

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(128)])
const NO = 'XF-20250301-000001'
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
  openid = `o_detail_user_${String(count).padStart(11, '0')}`
  fake.loginCodes.push(`detail-login-${count}`)
  standin.codes[`detail-login-${count}`] = openid
  standin.requests = []
})

function replied() {
  const windowEnd = new Date(Date.now() + 20 * 24 * 3600 * 1000).toISOString()
  return standin.addPetition(openid, {
    tracking_no: NO, status: 'replied', due_at: null, unit: '岳麓区人民政府',
    replies: [{kind: 'reply', text: '已责令烧烤店安装油烟净化器。', created_at: '2025-03-20T02:00:00+00:00'}],
    events: [
      {action: 'register', status: 'registered', at: '2025-03-01T02:00:00+00:00'},
      {action: 'accept', status: 'accepted', at: '2025-03-02T02:00:00+00:00', due_at: '2025-05-06T15:59:59+00:00'},
      {action: 'assign', status: 'assigned', at: '2025-03-02T02:00:00+00:00', unit: '岳麓区人民政府'},
      {action: 'start', status: 'in_progress', at: '2025-03-03T02:00:00+00:00'},
      {action: 'reply', status: 'replied', at: '2025-03-20T02:00:00+00:00'},
    ],
    can_feedback: true, feedback_due_at: windowEnd, can_request_review: true, review_request_due_at: windowEnd,
    can_supplement: true,
  })
}

async function open() {
  const page = openPage('detail', {no: NO})
  await page.instance.ready
  return page
}

function timeline(page) {
  return page.querySelectorAll('.event-label').map(n => n.dom.textContent.trim())
}

test('the petition, its progress and the reply', async () => {
  replied()
  const page = await open()
  expect(textOf(page, '#head')).toContain(NO)
  expect(textOf(page, '#status')).toBe('已答复')
  expect(timeline(page)).toEqual(['登记', '已受理', '交办至 岳麓区人民政府', '开始办理', '已答复'])
  expect(textOf(page, '#timeline')).toContain('期限至 2025-05-06')
  expect(textOf(page, '#replies')).toContain('已责令烧烤店安装油烟净化器。')
  expect(textOf(page, '#replies')).toContain('答复意见')
  expect(textOf(page, '#feedback')).toContain('逾期视为满意')
  expect(page.querySelector('#review')).toBeTruthy()
  const paths = standin.requests.map(r => `${r.method} ${r.path}`)
  expect(paths).toEqual(expect.arrayContaining([`GET /api/v1/miniprogram/petitions/${NO}`,
    `GET /api/v1/miniprogram/petitions/${NO}/timeline`]))
})

test('not satisfied needs a reason; then the review request inside its window', async () => {
  replied()
  const page = await open()
  page.querySelector('#choice').dispatchEvent('change', {detail: {value: 'no'}})
  await simulate.sleep(0)
  await tap(page, '#submit-feedback')
  expect(textOf(page, '#form-error')).toBe('请填写不满意的原因')
  expect(standin.requests.filter(r => r.path.endsWith('/feedback'))).toHaveLength(0)
  page.querySelector('#reason').dispatchEvent('input', {detail: {value: '油烟还是很大'}})
  await tap(page, '#submit-feedback')
  await until(() => !page.querySelector('#feedback'))
  const feedback = standin.requests.find(r => r.path.endsWith('/feedback'))
  expect(feedback.json).toEqual({satisfied: false, reason: '油烟还是很大'})
  expect(feedback.query.locale).toBe('zh-CN')
  expect(fake.toasts).toEqual(['感谢您的评价'])
  expect(timeline(page).pop()).toBe('评价：不满意')
  // The reason carries over to the review request.
  expect(page.data.reviewReason).toBe('油烟还是很大')
  await tap(page, '#submit-review')
  await until(() => !page.querySelector('#review'))
  expect(standin.requests.find(r => r.path.endsWith('/review')).json).toEqual({reason: '油烟还是很大'})
  expect(textOf(page, '#status')).toBe('已申请复查')
  expect(timeline(page).pop()).toBe('申请复查')
})

test('satisfied closes the petition: no more forms', async () => {
  replied()
  const page = await open()
  page.querySelector('#choice').dispatchEvent('change', {detail: {value: 'yes'}})
  await tap(page, '#submit-feedback')
  await until(() => textOf(page, '#status') === '已办结')
  expect(standin.requests.find(r => r.path.endsWith('/feedback')).json).toEqual({satisfied: true, reason: null})
  expect(page.querySelector('#feedback')).toBeFalsy()
  expect(page.querySelector('#review')).toBeFalsy()
  expect(page.querySelector('#supplement')).toBeFalsy()
  expect(timeline(page).slice(-2)).toEqual(['评价：满意', '已办结'])
})

test('a refusal from the server is shown next to the form', async () => {
  replied()
  const page = await open()
  standin.failNext(/\/review$/, 409, 'the window to request review closed on 2025-04-19')
  page.querySelector('#review-reason').dispatchEvent('input', {detail: {value: '不服'}})
  await tap(page, '#submit-review')
  await until(() => Boolean(page.querySelector('#form-error')))
  expect(textOf(page, '#form-error')).toBe('当前状态下不能这样操作，请刷新后查看')
})

test('supplements: words, and a photo with words', async () => {
  standin.addPetition(openid, {tracking_no: NO, status: 'in_progress'})
  const page = await open()
  expect(page.querySelector('#feedback')).toBeFalsy()
  await tap(page, '#submit-supplement')
  expect(textOf(page, '#form-error')).toBe('请填写内容')
  page.querySelector('#supplement-text').dispatchEvent('input', {detail: {value: '晚上十点以后最严重'}})
  await tap(page, '#submit-supplement')
  await until(() => Boolean(page.querySelector('#supplements')))
  expect(standin.requests.find(r => r.path.endsWith('/supplements')).json).toEqual({text: '晚上十点以后最严重'})
  expect(page.data.supplementText).toBe('')
  page.querySelector('#supplement-text').dispatchEvent('input', {detail: {value: '油烟照片'}})
  fake.media = [{tempFilePath: tempFile('smoke.png', PNG), size: PNG.length}]
  await tap(page, '#add-photo')
  await until(() => page.querySelectorAll('#supplements .reply').length === 2)
  const upload = standin.requests.find(r => r.path.endsWith('/supplements/image'))
  expect(upload.form.fields).toMatchObject({text: '油烟照片', locale: 'zh-CN'})
  expect(upload.form.file.content.equals(PNG)).toBe(true)
  expect(textOf(page, '#supplements')).toContain('附件 1 个')
  expect(fake.compressed).toEqual([])
  expect(timeline(page).slice(-2)).toEqual(['补充了材料', '补充了材料'])
})

test('someone else\'s petition is not found', async () => {
  const page = await open()
  expect(textOf(page, '#error')).toBe('没有找到这件信访件')
  expect(page.querySelector('#head')).toBeFalsy()
})
