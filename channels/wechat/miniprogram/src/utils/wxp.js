/**
 * Callback-style wx APIs as promises.
 */

/**
 * Call wx[name](options) and settle with its success or fail result.
 * @param {string} name
 * @param {Object} [options]
 * @returns {Promise<*>}
 */
function call(name, options) {
  return new Promise((resolve, reject) => {
    wx[name](Object.assign({}, options, {success: resolve, fail: reject}))
  })
}

/**
 * Tell whether a wx API failure is the user cancelling (no message needed).
 * @param {*} err
 */
function isCancel(err) {
  return Boolean(err && typeof err.errMsg === 'string' && /cancel/i.test(err.errMsg))
}

/**
 * Show a short message.
 * @param {string} title
 */
function toast(title) {
  if (title) wx.showToast({title, icon: 'none', duration: 2500})
}

module.exports = {call, isCancel, toast}
