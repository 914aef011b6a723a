/**
 * Fakes of the wx APIs miniprogram-simulate leaves as stubs: wx.request and wx.uploadFile do real HTTP to the
 * URL they are given (our stand-in or our real back end), wx.login hands out codes, storage lives in memory,
 * and the recorder, the map and the photo picker return what a test arranged.
 */

const fs = require('fs')
const http = require('http')
const path = require('path')

const fake = {
  storage: new Map(),
  loginCodes: [],
  logins: 0,
  offline: false,
  requests: [],
  toasts: [],
  titles: [],
  navigations: [],
  pullDownStops: 0,
  /** @type {{path: string, duration: number}|null} */
  recording: null,
  recorderStarts: [],
  /** @type {{latitude: number, longitude: number, name: string, address: string}|null} */
  location: null,
  /** @type {Array<{tempFilePath: string, size: number}>|null} */
  media: null,
  compressed: [],
}

function reset() {
  fake.storage.clear()
  fake.loginCodes = []
  fake.logins = 0
  fake.offline = false
  fake.requests = []
  fake.toasts = []
  fake.titles = []
  fake.navigations = []
  fake.pullDownStops = 0
  fake.recording = null
  fake.recorderStarts = []
  fake.location = null
  fake.media = null
  fake.compressed = []
}

function finish(options, ok, result) {
  const callback = ok ? options.success : options.fail
  if (typeof callback === 'function') callback(result)
  if (typeof options.complete === 'function') options.complete(result)
}

function send(url, method, headers, body, timeout, onDone) {
  const target = new URL(url)
  fake.requests.push({method, url, headers, body: body ? body.toString('utf8').slice(0, 2000) : null})
  if (fake.offline) {
    setTimeout(() => onDone(null, 'offline'), 0)
    return {abort() {}}
  }
  const req = http.request({hostname: target.hostname, port: target.port, path: target.pathname + target.search,
    method, headers: Object.assign({}, headers, body ? {'content-length': body.length} : {})}, res => {
    const chunks = []
    res.on('data', c => chunks.push(c))
    res.on('end', () => onDone({statusCode: res.statusCode, header: res.headers,
      text: Buffer.concat(chunks).toString('utf8')}))
  })
  req.setTimeout(timeout || 60000, () => req.destroy(new Error('timeout')))
  req.on('error', err => onDone(null, err.message))
  if (body) req.write(body)
  req.end()
  return {abort: () => req.destroy(new Error('abort'))}
}

/** wx.request: JSON in and out; GET data goes into the query string, as on the phone. */
function request(options) {
  const method = (options.method || 'GET').toUpperCase()
  let url = options.url
  let body = null
  const headers = Object.assign({}, options.header)
  if (options.data !== undefined && options.data !== null) {
    if (method === 'GET') {
      const extra = Object.keys(options.data).map(k => `${encodeURIComponent(k)}=${encodeURIComponent(options.data[k])}`)
      if (extra.length) url += (url.indexOf('?') >= 0 ? '&' : '?') + extra.join('&')
    } else {
      body = Buffer.from(typeof options.data === 'string' ? options.data : JSON.stringify(options.data))
    }
  }
  return send(url, method, headers, body, options.timeout, (res, error) => {
    if (!res) return finish(options, false, {errMsg: `request:fail ${error}`})
    let data = res.text
    if (options.dataType !== 'text') {
      try {
        data = JSON.parse(res.text)
      } catch (e) {
        data = res.text
      }
    }
    return finish(options, true, {errMsg: 'request:ok', statusCode: res.statusCode, data, header: res.header})
  })
}

/** wx.uploadFile: one file and form fields as multipart/form-data; the answer's data is a string. */
function uploadFile(options) {
  const boundary = `----wxfake${Math.random().toString(16).slice(2)}`
  const parts = []
  const formData = options.formData || {}
  Object.keys(formData).forEach(key => {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${formData[key]}\r\n`))
  })
  let content
  try {
    content = fs.readFileSync(options.filePath)
  } catch (e) {
    setTimeout(() => finish(options, false, {errMsg: `uploadFile:fail file not found ${options.filePath}`}), 0)
    return {abort() {}}
  }
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${options.name}"; ` +
    `filename="${path.basename(options.filePath)}"\r\nContent-Type: application/octet-stream\r\n\r\n`))
  parts.push(content, Buffer.from(`\r\n--${boundary}--\r\n`))
  const headers = Object.assign({}, options.header, {'content-type': `multipart/form-data; boundary=${boundary}`})
  return send(options.url, 'POST', headers, Buffer.concat(parts), options.timeout, (res, error) => {
    if (!res) return finish(options, false, {errMsg: `uploadFile:fail ${error}`})
    return finish(options, true, {errMsg: 'uploadFile:ok', statusCode: res.statusCode, data: res.text})
  })
}

const recorderManager = {
  active: false,
  handlers: {stop: null, error: null, start: null},
  start(options) {
    fake.recorderStarts.push(options)
    this.active = true
    if (this.handlers.start) setTimeout(() => this.handlers.start({}), 0)
  },
  stop() {
    if (!this.active) return
    this.active = false
    const take = fake.recording
    setTimeout(() => {
      if (!take && this.handlers.error) this.handlers.error({errMsg: 'operateRecorder:fail no microphone'})
      else if (take && this.handlers.stop) {
        this.handlers.stop({tempFilePath: take.path, duration: take.duration, fileSize: fs.statSync(take.path).size})
      }
    }, 0)
  },
  pause() {},
  resume() {},
  onStop(cb) { this.handlers.stop = cb },
  onError(cb) { this.handlers.error = cb },
  onStart(cb) { this.handlers.start = cb },
  onPause() {},
  onResume() {},
  onFrameRecorded() {},
  onInterruptionBegin() {},
  onInterruptionEnd() {},
}

const api = {
  request,
  uploadFile,
  login(options) {
    fake.logins += 1
    const code = fake.loginCodes.length ? fake.loginCodes.shift() : `code${fake.logins}${Math.random().toString(36).slice(2, 10)}`
    setTimeout(() => finish(options, true, {errMsg: 'login:ok', code}), 0)
  },
  setStorageSync(key, value) {
    fake.storage.set(key, JSON.stringify(value))
  },
  getStorageSync(key) {
    return fake.storage.has(key) ? JSON.parse(fake.storage.get(key)) : ''
  },
  removeStorageSync(key) {
    fake.storage.delete(key)
  },
  clearStorageSync() {
    fake.storage.clear()
  },
  getStorageInfoSync() {
    return {keys: Array.from(fake.storage.keys()), currentSize: 0, limitSize: 10240}
  },
  getRecorderManager() {
    return recorderManager
  },
  chooseLocation(options) {
    const place = fake.location
    setTimeout(() => (place ? finish(options, true, Object.assign({errMsg: 'chooseLocation:ok'}, place)) :
      finish(options, false, {errMsg: 'chooseLocation:fail cancel'})), 0)
  },
  chooseMedia(options) {
    const files = fake.media
    setTimeout(() => (files ? finish(options, true, {errMsg: 'chooseMedia:ok', type: 'image', tempFiles: files}) :
      finish(options, false, {errMsg: 'chooseMedia:fail cancel'})), 0)
  },
  compressImage(options) {
    fake.compressed.push(options)
    setTimeout(() => finish(options, true, {errMsg: 'compressImage:ok', tempFilePath: options.src}), 0)
  },
  showToast(options) {
    fake.toasts.push(options.title)
    finish(options, true, {errMsg: 'showToast:ok'})
  },
  setNavigationBarTitle(options) {
    fake.titles.push(options.title)
    finish(options, true, {errMsg: 'setNavigationBarTitle:ok'})
  },
  navigateTo(options) {
    fake.navigations.push(options.url)
    finish(options, true, {errMsg: 'navigateTo:ok'})
  },
  stopPullDownRefresh() {
    fake.pullDownStops += 1
  },
  previewImage(options) {
    finish(options, true, {errMsg: 'previewImage:ok'})
  },
}

/** Put the fakes on the global wx that miniprogram-simulate made. */
function install() {
  require('miniprogram-simulate')
  Object.assign(global.wx, api)
  recorderManager.active = false
}

module.exports = {fake, reset, install, recorderManager}
