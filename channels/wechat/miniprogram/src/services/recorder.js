/**
 * Voice input: hold to record with wx.getRecorderManager, release to get the file (mp3, mono, 16 kHz).
 */

const {config} = require('../utils/config')

let manager = null
/** @type {{resolve: Function, reject: Function, startedAt: number}|null} */
let waiting = null

function recorder() {
  if (manager) return manager
  manager = wx.getRecorderManager()
  manager.onStop(res => {
    const done = waiting
    waiting = null
    if (!done) return
    const duration = typeof res.duration === 'number' ? res.duration : Date.now() - done.startedAt
    done.resolve({tempFilePath: res.tempFilePath, duration, fileSize: res.fileSize || 0})
  })
  manager.onError(err => {
    const done = waiting
    waiting = null
    if (done) done.reject(new Error((err && err.errMsg) || 'recorder error'))
  })
  return manager
}

/**
 * Start recording; the promise settles when `stop()` is called (or the maximum duration is reached).
 * @returns {Promise<{tempFilePath: string, duration: number, fileSize: number}>}
 */
function start() {
  const rm = recorder()
  if (waiting) waiting.reject(new Error('recording restarted'))
  return new Promise((resolve, reject) => {
    waiting = {resolve, reject, startedAt: Date.now()}
    rm.start(Object.assign({}, config.record))
  })
}

/** Stop recording (the promise of `start()` then settles). */
function stop() {
  if (manager && waiting) manager.stop()
}

/**
 * Tell whether a recording is long enough to hold words.
 * @param {{duration: number}} result
 */
function isLongEnough(result) {
  return Boolean(result && result.duration >= config.minRecordMs)
}

/** Forget the recorder (tests). */
function reset() {
  manager = null
  waiting = null
}

module.exports = {start, stop, isLongEnough, reset}
