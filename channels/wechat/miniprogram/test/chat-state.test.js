const {ChatState, findMediationLink} = require('../src/services/chat')
const {config} = require('../src/utils/config')

const history = [
  {seq: 1, direction: 'in', author: 'citizen', text: '你好', quick_replies: [], created_at: '2025-03-01T02:00:00Z'},
  {seq: 2, direction: 'out', author: 'bot', text: '您好！', quick_replies: ['我要反映问题', '查询进度'],
    created_at: '2025-03-01T02:00:00Z'},
]

test('history resumes the conversation with the last quick replies, each message once', () => {
  const state = new ChatState()
  expect(state.addHistory(history)).toBe(2)
  expect(state.addHistory(history)).toBe(0)
  const view = state.view()
  expect(view.messages.map(m => [m.key, m.from, m.text])).toEqual([['s1', 'me', '你好'], ['s2', 'bot', '您好！']])
  expect(view.quickReplies).toEqual(['我要反映问题', '查询进度'])
  expect(view.lastKey).toBe('s2')
  expect(state.lastSeq).toBe(2)
})

test('a sent message waits, then gets its replies; a failure keeps it for a retry', () => {
  const state = new ChatState()
  state.addHistory(history)
  state.addOutgoing('m1', {text: '我要反映问题'})
  expect(state.view().quickReplies).toEqual([])
  expect(state.view().messages[2]).toMatchObject({id: 'm1', status: 'sending', direction: 'in'})
  state.confirm('m1', [{text: '请说说发生了什么', quick_replies: ['跳过'], seq: 4}])
  expect(state.view().messages.slice(2).map(m => [m.status, m.text])).toEqual(
    [['sent', '我要反映问题'], ['sent', '请说说发生了什么']])
  expect(state.view().quickReplies).toEqual(['跳过'])
  expect(state.lastSeq).toBe(4)
  // The citizen's own message (seq 3) and the reply (seq 4) never come back through polling.
  expect(state.addHistory([{seq: 3, direction: 'in', author: 'citizen', text: '我要反映问题', quick_replies: []},
    {seq: 4, direction: 'out', author: 'bot', text: '请说说发生了什么', quick_replies: []}], {outOnly: true})).toBe(0)
  state.addOutgoing('m2', {text: '油烟'})
  state.fail('m2', '网络不可用')
  expect(state.view().messages[4]).toMatchObject({status: 'failed', note: '网络不可用'})
  state.remove('m2')
  expect(state.view().messages).toHaveLength(4)
})

test('agent messages are marked, and only our mediation links become a join button', () => {
  const state = new ChatState()
  const origin = config.baseUrl
  state.addHistory([
    {seq: 1, direction: 'out', author: 'agent', text: `请点击 ${origin}/mediation/join/abc123。`, quick_replies: []},
    {seq: 2, direction: 'out', author: 'agent', text: '看这里 https://evil.example.com/mediation/join/x', quick_replies: []},
  ])
  const [ours, theirs] = state.view().messages
  expect(ours).toMatchObject({from: 'agent', mediation: `${origin}/mediation/join/abc123`})
  expect(theirs.mediation).toBe('')
  expect(findMediationLink('javascript:alert(1)')).toBe('')
})
