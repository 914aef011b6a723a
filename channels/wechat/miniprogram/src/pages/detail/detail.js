const api = require('../../services/api')
const http = require('../../services/http')
const {config} = require('../../utils/config')
const format = require('../../utils/format')
const i18n = require('../../utils/i18n')
const {localize} = require('../../utils/page')
const {call, isCancel, toast} = require('../../utils/wxp')

/**
 * Shape the petition and its progress for the page.
 * @param {Object} p GET /petitions/{no}
 * @param {Object} progress GET /petitions/{no}/timeline
 */
function present(p, progress) {
  return {
    head: {
      trackingNo: p.tracking_no, title: p.title, statusLabel: format.statusLabel(progress.status, progress.status_name),
      tone: format.statusTone(progress.status), unit: p.unit || i18n.t('petitions.unitPending'),
      received: format.formatDateTime(p.received_at), deadline: format.deadline(progress.due_at),
      content: p.content, address: p.address || '', demand: p.demand || '',
    },
    replies: (p.replies || []).map(format.replyItem),
    events: progress.events.map(format.timelineItem),
    supplements: (p.supplements || []).map((s, i) => ({
      key: `s${i}`, text: s.text, at: format.formatDateTime(s.created_at),
      attachments: s.attachments ? i18n.t('detail.attachments', {n: s.attachments}) : '',
    })),
    actions: {
      canFeedback: progress.can_feedback, canReview: progress.can_request_review, canSupplement: progress.can_supplement,
      feedbackDue: progress.feedback_due_at ? i18n.t('detail.feedbackDue', {date: format.formatDate(progress.feedback_due_at)}) : '',
      reviewHint: progress.review_request_due_at ?
        i18n.t('detail.reviewHint', {date: format.formatDate(progress.review_request_due_at)}) : '',
    },
  }
}

Component({
  data: {
    t: {}, locale: 'zh', loading: true, error: '', head: null, replies: [], events: [], supplements: [],
    actions: {}, choice: '', reason: '', reviewReason: '', supplementText: '', formError: '', submitting: false,
  },
  methods: {
    onLoad(query) {
      localize(this, 'detail.title')
      this.no = (query && query.no) || ''
      this.ready = this.load()
      return this.ready
    },
    onPullDownRefresh() {
      this.ready = this.load().then(() => wx.stopPullDownRefresh())
      return this.ready
    },
    async load() {
      try {
        const [petition, progress] = await Promise.all([api.petition(this.no), api.timeline(this.no)])
        this.setData(Object.assign({loading: false, error: ''}, present(petition, progress)))
      } catch (err) {
        this.setData({loading: false, error: http.errorText(err)})
      }
    },
    onChoose(e) {
      this.setData({choice: e.detail.value, formError: ''})
    },
    onReasonInput(e) {
      this.setData({reason: e.detail.value})
    },
    onReviewInput(e) {
      this.setData({reviewReason: e.detail.value})
    },
    onSupplementInput(e) {
      this.setData({supplementText: e.detail.value})
    },
    /** Run one citizen action, then show the petition afresh. */
    async submit(action, done) {
      if (this.data.submitting) return false
      this.setData({submitting: true, formError: ''})
      try {
        await action()
      } catch (err) {
        this.setData({submitting: false, formError: http.errorText(err)})
        return false
      }
      this.setData({submitting: false})
      toast(done)
      await this.load()
      return true
    },
    onSubmitFeedback() {
      const {choice, reason} = this.data
      if (choice !== 'yes' && choice !== 'no') return Promise.resolve(false)
      if (choice === 'no' && !reason.trim()) {
        this.setData({formError: i18n.t('detail.reasonRequired')})
        return Promise.resolve(false)
      }
      return this.submit(() => api.feedback(this.no, choice === 'yes', choice === 'no' ? reason.trim() : null),
        i18n.t('detail.feedbackThanks')).then(ok => {
        if (ok && choice === 'no') this.setData({reviewReason: this.data.reviewReason || reason.trim()})
        return ok
      })
    },
    onSubmitReview() {
      const reason = this.data.reviewReason.trim()
      if (!reason) {
        this.setData({formError: i18n.t('detail.reasonRequired')})
        return Promise.resolve(false)
      }
      return this.submit(() => api.requestReview(this.no, reason), i18n.t('detail.reviewSent'))
    },
    onSubmitSupplement() {
      const text = this.data.supplementText.trim()
      if (!text) {
        this.setData({formError: i18n.t('detail.textRequired')})
        return Promise.resolve(false)
      }
      return this.submit(() => api.supplement(this.no, text), i18n.t('detail.supplementSent')).then(ok => {
        if (ok) this.setData({supplementText: ''})
        return ok
      })
    },
    async onAddPhoto() {
      let picked
      try {
        picked = await call('chooseMedia', {count: 1, mediaType: ['image'], sourceType: ['album', 'camera'],
          sizeType: ['compressed']})
      } catch (err) {
        if (!isCancel(err)) toast(i18n.t('errors.unsupported'))
        return false
      }
      const file = picked.tempFiles[0]
      let path = file.tempFilePath
      if (file.size > config.maxImageBytes) path = (await call('compressImage', {src: path, quality: 50})).tempFilePath
      const text = this.data.supplementText.trim()
      const ok = await this.submit(() => api.supplementPhoto(this.no, path, text), i18n.t('detail.photoSent'))
      if (ok) this.setData({supplementText: ''})
      return ok
    },
  },
})
