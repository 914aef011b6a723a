/**
 * Interface texts in Simplified Chinese (the default) and English, and the language switch.
 *
 * Only the chosen language is kept in storage: it is a preference, not personal data.
 */

const STORAGE_KEY = 'petition.locale'
const LOCALES = ['zh', 'en']

/** @typedef {'zh'|'en'} Locale */

const zh = {
  app: {title: '信访服务'},
  common: {
    back: '返回', retry: '重试', submit: '提交', cancel: '取消', loading: '加载中…', send: '发送',
    langSwitch: 'English', none: '无',
  },
  home: {
    title: '信访服务',
    welcome: '您好！在这里可以反映问题、查询进度、评价答复。',
    start: '我要反映问题', startHint: '和智能助手对话，几分钟完成登记',
    continue: '继续上次对话', continueHint: '上次：{text}',
    mine: '我的信访件', mineHint: '查看办理进度和答复',
    policy: '信访须知', policyHide: '收起须知',
    logout: '退出登录', loggedOut: '已退出登录，本机不再保存登录信息',
    emergency: '如遇人身安全紧急情况，请立即拨打 110 或 120。',
  },
  policy: {
    title: '信访须知',
    items: [
      '本服务依据《信访工作条例》受理您反映的问题。请如实反映情况，不得捏造、歪曲事实。',
      '提交后您会得到受理编号；有关机关一般在 15 日内告知是否受理，受理后 60 日内办结答复，情况复杂的可延长不超过 30 日。',
      '对答复不满意的，可以自收到答复之日起 30 日内申请复查；对复查意见不服的，可在 30 日内申请复核。',
      '您提供的姓名、电话等信息只用于办理您的信访事项，加密保存，不对外公开。本小程序只在本机保存登录状态和语言设置。',
      '涉及诉讼、仲裁、行政复议等法定途径的事项，请依照有关法律规定办理。',
    ],
  },
  chat: {
    title: '在线反映',
    startText: '我要反映问题',
    placeholder: '请输入…',
    holdToTalk: '按住 说话', releaseToSend: '松开 发送', recording: '正在录音，松开发送',
    voice: '语音', keyboard: '键盘', image: '图片', location: '位置',
    voiceSent: '〔语音〕', imageSent: '〔图片〕', locationSent: '〔位置〕{label}',
    heard: '〔语音〕{text}',
    tooShort: '说话时间太短', sending: '发送中…', failed: '发送失败，点此重试',
    agent: '工作人员', bot: '智能助手', me: '我',
    joinMediation: '加入视频调解',
    noRecorder: '无法录音，请检查麦克风权限',
    locationFailed: '未能获取位置',
  },
  petitions: {
    title: '我的信访件', empty: '您还没有通过小程序提交过信访件。', start: '我要反映问题',
    received: '登记于 {date}', unit: '办理单位：{unit}', unitPending: '待交办',
  },
  detail: {
    title: '信访件详情', trackingNo: '受理编号', status: '当前状态', unit: '办理单位', received: '登记时间',
    deadline: '当前时限', content: '反映内容', address: '地址', demand: '诉求',
    timeline: '办理进度', replies: '答复', supplements: '补充材料', attachments: '附件 {n} 个',
    feedback: '评价答复', satisfied: '满意', unsatisfied: '不满意', reason: '不满意的原因',
    reasonPlaceholder: '请说明哪些方面不满意', reasonRequired: '请填写不满意的原因',
    feedbackDue: '请在 {date} 前评价，逾期视为满意', feedbackThanks: '感谢您的评价',
    review: '申请复查', reviewHint: '对答复不满意，可在 {date} 前申请复查',
    reviewReason: '申请复查的理由', reviewReasonPlaceholder: '请说明申请复查的理由', reviewSent: '已提交复查申请',
    supplement: '补充情况', supplementPlaceholder: '补充新的情况或证据说明', supplementSent: '已补充',
    addPhoto: '添加照片', photoSent: '照片已上传', textRequired: '请填写内容',
  },
  timeline: {
    register: '登记', dispatch: '分派至 {unit}', accept: '已受理', not_accept: '不予受理', forward: '转送至 {unit}',
    assign: '交办至 {unit}', start: '开始办理', reply: '已答复', extend: '办理期限延长', close: '已办结',
    request_review: '申请复查', start_review: '开始复查', reply_review: '复查答复', request_reexam: '申请复核',
    start_reexam: '开始复核', reply_reexam: '复核答复', withdraw: '已撤回', merge: '并入 {into}',
    supplement: '补充了材料', feedback_yes: '评价：满意', feedback_no: '评价：不满意',
    due: '期限至 {date}', reason: '理由：{reason}', unknownUnit: '有关单位',
  },
  reply: {reply: '答复意见', review: '复查意见', reexam: '复核意见'},
  deadline: {
    left: '{date} 到期（剩 {days} 天）', today: '{date} 到期（今天）', overdue: '{date} 到期（已超期 {days} 天）',
    none: '无',
  },
  status: {
    registered: '已登记', accepted: '已受理', not_accepted: '不予受理', forwarded: '已转送', assigned: '已交办',
    in_progress: '办理中', replied: '已答复', closed: '已办结', review_requested: '已申请复查', under_review: '复查中',
    review_replied: '已复查', reexam_requested: '已申请复核', under_reexam: '复核中', final: '复核终结',
    withdrawn: '已撤回', merged: '已合并',
  },
  mediation: {
    title: '视频调解', badLink: '调解邀请链接无效或不是本平台的链接，请核对邀请后重试。',
  },
  errors: {
    network: '网络不可用，请稍后重试', auth: '登录已失效，请重新进入', notFound: '没有找到这件信访件',
    conflict: '当前状态下不能这样操作，请刷新后查看', tooLarge: '文件太大，请缩短录音或换一张小一点的照片',
    unsupported: '文件格式不支持', noSpeech: '没有听清，请再说一遍或直接打字', invalid: '填写的内容有误，请检查后重试',
    tooMany: '操作太频繁，请稍后再试', server: '服务暂时不可用，请稍后重试', login: '登录失败，请稍后重试',
  },
}

const en = {
  app: {title: 'Petitions'},
  common: {
    back: 'Back', retry: 'Retry', submit: 'Submit', cancel: 'Cancel', loading: 'Loading…', send: 'Send',
    langSwitch: '中文', none: 'None',
  },
  home: {
    title: 'Petitions',
    welcome: 'Hello! Raise a problem, follow its progress and rate the reply here.',
    start: 'File a complaint', startHint: 'Chat with our assistant; it takes a few minutes',
    continue: 'Continue the last conversation', continueHint: 'Last: {text}',
    mine: 'My petitions', mineHint: 'Progress and replies',
    policy: 'Policy notice', policyHide: 'Hide the notice',
    logout: 'Log out', loggedOut: 'Logged out; nothing of your login is kept on this phone',
    emergency: 'If anyone is in danger, call 110 (police) or 120 (ambulance) now.',
  },
  policy: {
    title: 'Policy notice',
    items: [
      'Petitions are handled under the Regulations on Letters and Visits. Please describe the facts truthfully.',
      'You get a tracking number. The authority usually tells you within 15 days whether it accepts the petition, and replies within 60 days of accepting it (complex cases: at most 30 days more).',
      'If you are not satisfied with the reply, you may request a review within 30 days of receiving it, and a re-examination within 30 days of the review opinion.',
      'Your name and phone number are used only to handle your petition; they are stored encrypted and never published. This mini-program keeps only your login and language choice on the phone.',
      'Matters for the courts, arbitration or administrative reconsideration follow those procedures.',
    ],
  },
  chat: {
    title: 'Chat',
    startText: 'File a complaint',
    placeholder: 'Type a message…',
    holdToTalk: 'Hold to talk', releaseToSend: 'Release to send', recording: 'Recording; release to send',
    voice: 'Voice', keyboard: 'Keyboard', image: 'Photo', location: 'Location',
    voiceSent: '[voice]', imageSent: '[photo]', locationSent: '[location] {label}',
    heard: '[voice] {text}',
    tooShort: 'Too short', sending: 'Sending…', failed: 'Not sent; tap to retry',
    agent: 'Staff', bot: 'Assistant', me: 'Me',
    joinMediation: 'Join the video mediation',
    noRecorder: 'Cannot record: check the microphone permission',
    locationFailed: 'Could not get the location',
  },
  petitions: {
    title: 'My petitions', empty: 'You have not filed a petition through the mini-program yet.',
    start: 'File a complaint', received: 'Filed {date}', unit: 'Handled by {unit}', unitPending: 'Not assigned yet',
  },
  detail: {
    title: 'Petition', trackingNo: 'Tracking number', status: 'Status', unit: 'Handled by', received: 'Filed',
    deadline: 'Current deadline', content: 'What happened', address: 'Address', demand: 'Request',
    timeline: 'Progress', replies: 'Replies', supplements: 'Supplements', attachments: '{n} attachment(s)',
    feedback: 'Rate the reply', satisfied: 'Satisfied', unsatisfied: 'Not satisfied', reason: 'Why not satisfied',
    reasonPlaceholder: 'Tell us what is not resolved', reasonRequired: 'Please say why you are not satisfied',
    feedbackDue: 'Please rate it before {date}; after that it counts as satisfied', feedbackThanks: 'Thank you',
    review: 'Request a review', reviewHint: 'Not satisfied? You may request a review until {date}',
    reviewReason: 'Why a review', reviewReasonPlaceholder: 'Explain why the reply should be reviewed',
    reviewSent: 'Review requested',
    supplement: 'Add information', supplementPlaceholder: 'New facts or evidence', supplementSent: 'Added',
    addPhoto: 'Add a photo', photoSent: 'Photo uploaded', textRequired: 'Please write something',
  },
  timeline: {
    register: 'Registered', dispatch: 'Sent to {unit}', accept: 'Accepted', not_accept: 'Not accepted',
    forward: 'Forwarded to {unit}', assign: 'Assigned to {unit}', start: 'Handling started', reply: 'Replied',
    extend: 'Deadline extended', close: 'Closed', request_review: 'Review requested', start_review: 'Review started',
    reply_review: 'Review opinion given', request_reexam: 'Re-examination requested',
    start_reexam: 'Re-examination started', reply_reexam: 'Re-examination opinion given', withdraw: 'Withdrawn',
    merge: 'Merged into {into}', supplement: 'Information added', feedback_yes: 'Rated: satisfied',
    feedback_no: 'Rated: not satisfied', due: 'Due {date}', reason: 'Reason: {reason}', unknownUnit: 'the authority',
  },
  reply: {reply: 'Reply', review: 'Review opinion', reexam: 'Re-examination opinion'},
  deadline: {
    left: 'Due {date} ({days} days left)', today: 'Due {date} (today)', overdue: 'Due {date} ({days} days overdue)',
    none: 'None',
  },
  status: {
    registered: 'Registered', accepted: 'Accepted', not_accepted: 'Not accepted', forwarded: 'Forwarded',
    assigned: 'Assigned', in_progress: 'In progress', replied: 'Replied', closed: 'Closed',
    review_requested: 'Review requested', under_review: 'Under review', review_replied: 'Review replied',
    reexam_requested: 'Re-examination requested', under_reexam: 'Under re-examination', final: 'Final',
    withdrawn: 'Withdrawn', merged: 'Merged',
  },
  mediation: {
    title: 'Video mediation',
    badLink: 'This mediation invitation is invalid or not from our service. Check the invitation and try again.',
  },
  errors: {
    network: 'No network; try again later', auth: 'Your login expired; open the page again',
    notFound: 'No such petition', conflict: 'Not possible in the current state; refresh and check',
    tooLarge: 'The file is too large: record less or choose a smaller photo', unsupported: 'Unsupported file type',
    noSpeech: 'We could not make that out; say it again or type it', invalid: 'Something is not filled in correctly',
    tooMany: 'Too many attempts; wait a moment', server: 'The service is unavailable; try again later',
    login: 'Login failed; try again later',
  },
}

const DICTS = {zh, en}
let current = null

/**
 * Return the current language (stored preference, else Chinese).
 * @returns {Locale}
 */
function getLocale() {
  if (current) return current
  let stored = ''
  try {
    stored = wx.getStorageSync(STORAGE_KEY)
  } catch (e) {
    stored = ''
  }
  current = LOCALES.indexOf(stored) >= 0 ? stored : 'zh'
  return current
}

/**
 * Switch the language and remember the choice.
 * @param {Locale} locale
 */
function setLocale(locale) {
  if (LOCALES.indexOf(locale) < 0) throw new Error(`unknown locale ${locale}`)
  current = locale
  wx.setStorageSync(STORAGE_KEY, locale)
}

/** Toggle between Chinese and English; return the new language. */
function toggleLocale() {
  setLocale(getLocale() === 'zh' ? 'en' : 'zh')
  return current
}

/**
 * Return the locale code the back end expects (zh-CN / en).
 * @returns {string}
 */
function apiLocale() {
  return getLocale() === 'en' ? 'en' : 'zh-CN'
}

/**
 * Return the whole dictionary of the current language (pages put it in their data as `t`).
 * @returns {typeof zh}
 */
function bundle() {
  return DICTS[getLocale()]
}

/**
 * Return one text by its dotted key, with {placeholders} filled in; the key itself when it is unknown.
 * @param {string} key
 * @param {Object<string, string|number>} [params]
 * @param {Locale} [locale]
 * @returns {string}
 */
function t(key, params, locale) {
  let node = DICTS[locale || getLocale()]
  const parts = key.split('.')
  for (let i = 0; i < parts.length && node !== undefined; i++) node = node[parts[i]]
  if (typeof node !== 'string') return key
  return node.replace(/\{(\w+)\}/g, (all, name) => (params && params[name] !== undefined ? String(params[name]) : all))
}

/** Forget the cached language (tests; a new session reads the stored one again). */
function reset() {
  current = null
}

module.exports = {getLocale, setLocale, toggleLocale, apiLocale, bundle, t, reset, DICTS, STORAGE_KEY}
