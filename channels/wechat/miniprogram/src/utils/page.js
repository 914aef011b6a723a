/**
 * What every page does when it is shown: put the texts of the current language in its data and title.
 */

const i18n = require('./i18n')

/**
 * Put the dictionary in the page's data (as `t`) and set the navigation bar title.
 * @param {{setData: Function}} page
 * @param {string} titleKey
 */
function localize(page, titleKey) {
  page.setData({t: i18n.bundle(), locale: i18n.getLocale()})
  wx.setNavigationBarTitle({title: i18n.t(titleKey)})
}

module.exports = {localize}
