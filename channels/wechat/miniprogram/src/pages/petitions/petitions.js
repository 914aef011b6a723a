const api = require('../../services/api')
const http = require('../../services/http')
const {petitionCard} = require('../../utils/format')
const {localize} = require('../../utils/page')

Component({
  data: {t: {}, locale: 'zh', items: [], loading: true, error: ''},
  methods: {
    onLoad() {
      localize(this, 'petitions.title')
    },
    onShow() {
      localize(this, 'petitions.title')
      this.ready = this.load()
      return this.ready
    },
    onPullDownRefresh() {
      this.ready = this.load().then(() => wx.stopPullDownRefresh())
      return this.ready
    },
    async load() {
      try {
        const answer = await api.petitions()
        const now = Date.now()
        this.setData({items: answer.petitions.map(p => petitionCard(p, now)), loading: false, error: ''})
      } catch (err) {
        this.setData({loading: false, error: http.errorText(err)})
      }
    },
    onOpen(e) {
      wx.navigateTo({url: `/pages/detail/detail?no=${encodeURIComponent(e.currentTarget.dataset.no)}`})
    },
    onStart() {
      wx.navigateTo({url: '/pages/chat/chat?intent=new'})
    },
  },
})
