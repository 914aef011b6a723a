const api = require('../../services/api')
const http = require('../../services/http')
const session = require('../../services/session')
const i18n = require('../../utils/i18n')
const {preview} = require('../../utils/format')
const {localize} = require('../../utils/page')
const {toast} = require('../../utils/wxp')

// Pages are built with Component() so that miniprogram-simulate can test them; page lifecycles sit in methods.
Component({
  data: {t: {}, locale: 'zh', policyOpen: false, hasConversation: false, lastText: '', error: ''},
  methods: {
    onLoad() {
      localize(this, 'home.title')
    },
    onShow() {
      localize(this, 'home.title')
      this.ready = this.refresh()
      return this.ready
    },
    /** Find out whether there is a conversation to continue (logging in if needed). */
    async refresh() {
      try {
        const answer = await api.history(0)
        const last = answer.messages[answer.messages.length - 1]
        this.setData({hasConversation: Boolean(last), lastText: last ? preview(last.text, 30) : '', error: ''})
      } catch (err) {
        this.setData({hasConversation: false, lastText: '', error: http.errorText(err)})
      }
    },
    onStart() {
      wx.navigateTo({url: '/pages/chat/chat?intent=new'})
    },
    onContinue() {
      wx.navigateTo({url: '/pages/chat/chat'})
    },
    onMine() {
      wx.navigateTo({url: '/pages/petitions/petitions'})
    },
    onTogglePolicy() {
      this.setData({policyOpen: !this.data.policyOpen})
    },
    onToggleLanguage() {
      i18n.toggleLocale()
      localize(this, 'home.title')
    },
    onLogout() {
      session.logout()
      this.setData({hasConversation: false, lastText: ''})
      toast(i18n.t('home.loggedOut'))
    },
  },
})
