const {config} = require('../src/utils/config')
const {openPage, textOf} = require('./helpers')

afterEach(() => {
  config.baseUrl = 'http://127.0.0.1:8000'
  config.mediationOrigins = []
})

test('an invitation of our service opens in the web-view', () => {
  config.baseUrl = 'https://petition.example.gov.cn'
  const url = 'https://petition.example.gov.cn/mediation/join/Tk9x2?role=citizen'
  const page = openPage('mediation', {url: encodeURIComponent(url)})
  expect(page.data.url).toBe(url)
  expect(page.querySelector('#video')).toBeTruthy()
  expect(page.querySelector('#error')).toBeFalsy()
})

test('a separately configured mediation origin is allowed too', () => {
  config.mediationOrigins = ['https://video.example.gov.cn']
  const page = openPage('mediation', {url: encodeURIComponent('https://video.example.gov.cn/room/1')})
  expect(page.data.url).toBe('https://video.example.gov.cn/room/1')
})

test.each([
  ['another site', 'https://evil.example.com/mediation/join/x'],
  ['a look-alike host', 'https://petition.example.gov.cn.evil.com/x'],
  ['credentials in the URL', 'https://petition.example.gov.cn@evil.com/x'],
  ['javascript', 'javascript:alert(1)'],
  ['nothing', ''],
  ['broken encoding', '%E0%A4%A'],
])('refused: %s', (_, url) => {
  config.baseUrl = 'https://petition.example.gov.cn'
  const page = openPage('mediation', {url})
  expect(page.data.url).toBe('')
  expect(page.querySelector('#video')).toBeFalsy()
  expect(textOf(page, '#error')).toContain('调解邀请链接无效')
})
