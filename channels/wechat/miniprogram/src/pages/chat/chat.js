const {ChatController} = require('../../services/chat')
const http = require('../../services/http')
const recorder = require('../../services/recorder')
const {config} = require('../../utils/config')
const i18n = require('../../utils/i18n')
const {localize} = require('../../utils/page')
const {call, isCancel, toast} = require('../../utils/wxp')

Component({
  data: {
    t: {}, locale: 'zh', messages: [], quickReplies: [], lastKey: '', draft: '', mode: 'text', recording: false,
    loading: true, error: '',
  },
  methods: {
    onLoad(query) {
      localize(this, 'chat.title')
      this.controller = new ChatController(view => this.setData(view))
      this.ready = this.begin(query || {})
      return this.ready
    },
    /** Resume the conversation, start a new petition when asked to, then listen for agents' messages. */
    async begin(query) {
      try {
        await this.controller.resume()
      } catch (err) {
        this.setData({loading: false, error: http.errorText(err)})
        return
      }
      this.setData({loading: false, error: ''})
      if (query.intent === 'new') await this.controller.sendText(i18n.t('chat.startText'))
      this.startPolling()
    },
    onShow() {
      if (this.controller && !this.data.loading && !this.data.error) this.startPolling()
    },
    onHide() {
      this.stopPolling()
    },
    onUnload() {
      this.stopPolling()
      recorder.stop()
    },
    startPolling() {
      if (this.timer) return
      this.timer = setInterval(() => {
        this.controller.poll().catch(() => {})
      }, config.pollIntervalMs)
    },
    stopPolling() {
      if (this.timer) clearInterval(this.timer)
      this.timer = null
    },
    onReload() {
      this.setData({loading: true, error: ''})
      this.controller = new ChatController(view => this.setData(view))
      this.ready = this.begin({})
      return this.ready
    },
    onInput(e) {
      this.setData({draft: e.detail.value})
    },
    onSend() {
      const text = (this.data.draft || '').trim()
      if (!text) return Promise.resolve()
      this.setData({draft: ''})
      return this.controller.sendText(text)
    },
    onQuickReply(e) {
      return this.controller.sendText(e.currentTarget.dataset.text)
    },
    onRetry(e) {
      return this.controller.retry(e.currentTarget.dataset.id)
    },
    onToggleMode() {
      this.setData({mode: this.data.mode === 'text' ? 'voice' : 'text'})
    },
    /** Hold to talk: start recording. */
    onVoiceStart() {
      if (this.recording) return
      this.setData({recording: true})
      this.recording = recorder.start().then(result => {
        this.recording = null
        this.setData({recording: false})
        if (!recorder.isLongEnough(result)) {
          toast(i18n.t('chat.tooShort'))
          return null
        }
        return this.controller.sendVoice(result.tempFilePath).then(outcome => {
          if (!outcome.ok) toast(outcome.note)
          return outcome
        })
      }, () => {
        this.recording = null
        this.setData({recording: false})
        toast(i18n.t('chat.noRecorder'))
        return null
      })
    },
    /** Release: stop recording and send it. */
    onVoiceEnd() {
      const pending = this.recording
      recorder.stop()
      return pending || Promise.resolve(null)
    },
    async onChooseImage() {
      let picked
      try {
        picked = await call('chooseMedia', {count: 1, mediaType: ['image'], sourceType: ['album', 'camera'],
          sizeType: ['compressed']})
      } catch (err) {
        if (!isCancel(err)) toast(i18n.t('errors.unsupported'))
        return null
      }
      const file = picked.tempFiles[0]
      let path = file.tempFilePath
      if (file.size > config.maxImageBytes) {
        path = (await call('compressImage', {src: path, quality: 50})).tempFilePath
      }
      const outcome = await this.controller.sendImage(path)
      if (!outcome.ok) toast(outcome.note)
      return outcome
    },
    async onChooseLocation() {
      let place
      try {
        place = await call('chooseLocation', {})
      } catch (err) {
        if (!isCancel(err)) toast(i18n.t('chat.locationFailed'))
        return null
      }
      return this.controller.sendLocation(place)
    },
    onJoinMediation(e) {
      wx.navigateTo({url: `/pages/mediation/mediation?url=${encodeURIComponent(e.currentTarget.dataset.url)}`})
    },
    onPreviewImage(e) {
      wx.previewImage({urls: [e.currentTarget.dataset.src]})
    },
  },
})
