const format = require('../src/utils/format')
const i18n = require('../src/utils/i18n')

function shape(node) {
  if (typeof node === 'string') return 'string'
  if (Array.isArray(node)) return `array:${node.length}`
  const out = {}
  Object.keys(node).sort().forEach(k => { out[k] = shape(node[k]) })
  return out
}

describe('i18n', () => {
  test('Chinese by default, English on switch, the choice kept in storage only', () => {
    expect(i18n.getLocale()).toBe('zh')
    expect(i18n.t('home.start')).toBe('我要反映问题')
    expect(i18n.apiLocale()).toBe('zh-CN')
    expect(i18n.toggleLocale()).toBe('en')
    expect(i18n.t('home.start')).toBe('File a complaint')
    expect(i18n.apiLocale()).toBe('en')
    expect(wx.getStorageSync(i18n.STORAGE_KEY)).toBe('en')
    i18n.reset()
    expect(i18n.getLocale()).toBe('en') // read back from storage
    expect(() => i18n.setLocale('fr')).toThrow('unknown locale')
  })

  test('both languages have the same keys, and placeholders are filled', () => {
    expect(shape(i18n.DICTS.en)).toEqual(shape(i18n.DICTS.zh))
    expect(i18n.t('deadline.left', {date: '2025-03-18', days: 3})).toBe('2025-03-18 到期（剩 3 天）')
    expect(i18n.t('no.such.key')).toBe('no.such.key')
    expect(i18n.t('deadline.left', {date: 'x'})).toBe('x 到期（剩 {days} 天）')
  })
})

describe('format', () => {
  const due = '2025-03-18T15:59:59+00:00' // 23:59:59 on 18 March in China

  test('status labels in both languages, with the server name for a status we do not know', () => {
    expect(format.statusLabel('in_progress')).toBe('办理中')
    expect(format.statusLabel('brand_new', '新状态')).toBe('新状态')
    i18n.setLocale('en')
    expect(format.statusLabel('review_requested')).toBe('Review requested')
    expect(format.statusTone('replied')).toBe('waiting')
    expect(format.statusTone('closed')).toBe('done')
    expect(format.statusTone('assigned')).toBe('active')
  })

  test('dates are shown in China time', () => {
    expect(format.formatDateTime('2025-03-01T16:30:00+00:00')).toBe('2025-03-02 00:30')
    expect(format.formatDate('2025-03-01T15:59:00Z')).toBe('2025-03-01')
    expect(format.formatDate(null)).toBe('')
    expect(format.formatDateTime('not a date')).toBe('')
  })

  test('deadlines count calendar days in China time and say how urgent they are', () => {
    expect(format.deadline(due, Date.parse('2025-03-10T02:00:00Z'))).toEqual(
      {text: '2025-03-18 到期（剩 8 天）', level: 'ok', date: '2025-03-18'})
    expect(format.deadline(due, Date.parse('2025-03-15T02:00:00Z')).level).toBe('soon')
    // 17 March 23:00 UTC is already 18 March in China: due today.
    expect(format.deadline(due, Date.parse('2025-03-17T23:00:00Z')).text).toBe('2025-03-18 到期（今天）')
    expect(format.deadline(due, Date.parse('2025-03-20T02:00:00Z'))).toEqual(
      {text: '2025-03-18 到期（已超期 2 天）', level: 'overdue', date: '2025-03-18'})
    expect(format.deadline(null).level).toBe('none')
    i18n.setLocale('en')
    expect(format.deadline(due, Date.parse('2025-03-20T02:00:00Z')).text).toBe('Due 2025-03-18 (2 days overdue)')
  })

  test('a petition card: label, unit, and no deadline once it is finished', () => {
    const open = format.petitionCard({tracking_no: 'XF-1', title: 't', status: 'assigned', status_name: '已交办',
      received_at: '2025-03-01T02:00:00Z', due_at: due, unit: '岳麓区人民政府', replies: []},
    Date.parse('2025-03-10T02:00:00Z'))
    expect(open).toMatchObject({statusLabel: '已交办', tone: 'active', unit: '办理单位：岳麓区人民政府',
      received: '登记于 2025-03-01', deadline: {level: 'ok'}})
    const closed = format.petitionCard({tracking_no: 'XF-2', title: 't', status: 'closed', status_name: '已办结',
      received_at: '2025-03-01T02:00:00Z', due_at: due, unit: null, replies: [{}]})
    expect(closed).toMatchObject({unit: '待交办', deadline: {level: 'none'}, replies: 1})
  })

  test('timeline lines name the unit, the deadline and the citizen-visible reason', () => {
    expect(format.timelineItem({action: 'assign', status: 'assigned', at: '2025-03-02T01:00:00Z', unit: '岳麓区人民政府'}))
      .toEqual({key: 'assign-2025-03-02T01:00:00Z', label: '交办至 岳麓区人民政府', at: '2025-03-02 09:00', notes: []})
    expect(format.timelineItem({action: 'accept', at: '2025-03-02T01:00:00Z', due_at: '2025-05-01T15:00:00Z'}).notes)
      .toEqual(['期限至 2025-05-01'])
    expect(format.timelineItem({action: 'feedback', at: '2025-03-02T01:00:00Z', satisfied: false, reason: '没解决'}))
      .toMatchObject({label: '评价：不满意', notes: ['理由：没解决']})
    expect(format.timelineItem({action: 'dispatch', at: '2025-03-02T01:00:00Z', unit: null}).label).toBe('分派至 有关单位')
    expect(format.timelineItem({action: 'future_thing', status: 'closed', at: '2025-03-02T01:00:00Z'}).label).toBe('已办结')
    i18n.setLocale('en')
    expect(format.replyItem({kind: 'review', text: 'ok', created_at: '2025-03-02T01:00:00Z'}))
      .toMatchObject({kind: 'Review opinion', at: '2025-03-02 09:00'})
  })

  test('previews are one line and shortened', () => {
    expect(format.preview('第一行\n第二行', 20)).toBe('第一行 第二行')
    expect(format.preview('一二三四五六', 4)).toBe('一二三…')
  })
})
