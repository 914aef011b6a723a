const i18n = require('./utils/i18n')

App({
  onLaunch() {
    // Read the stored language choice once; pages localise themselves on show.
    i18n.getLocale()
  },
})
