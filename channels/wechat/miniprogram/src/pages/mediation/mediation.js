const {isMediationUrl} = require('../../utils/config')
const i18n = require('../../utils/i18n')
const {localize} = require('../../utils/page')

function decode(value) {
  try {
    return decodeURIComponent(value || '')
  } catch (e) {
    return ''
  }
}

Component({
  data: {t: {}, locale: 'zh', url: '', error: ''},
  methods: {
    /** Open the invitation (query `url`) in the web-view if it points at our mediation service. */
    onLoad(query) {
      localize(this, 'mediation.title')
      const url = decode(query && query.url)
      if (isMediationUrl(url)) this.setData({url, error: ''})
      else this.setData({url: '', error: i18n.t('mediation.badLink')})
    },
  },
})
