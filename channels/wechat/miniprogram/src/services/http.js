/**
 * wx.request and wx.uploadFile as promises against our server, with the server's errors as ApiError.
 */

const {config} = require('../utils/config')
const i18n = require('../utils/i18n')

/**
 * Make the error every failed call rejects with (a plain Error: subclasses of Error do not survive the
 * developer tools' ES5 build, so callers test `status`, never `instanceof`).
 * @param {number} status HTTP status; 0 when the server could not be reached
 * @param {string} detail the server's reason (FastAPI's "detail"), or the network error
 * @returns {Error & {name: 'ApiError', status: number, detail: string}}
 */
function ApiError(status, detail) {
  const err = new Error(`${status || 'network'}: ${detail}`)
  err.name = 'ApiError'
  err.status = status
  err.detail = detail
  return err
}

/**
 * Return the reason a FastAPI error body gives (a string, or the first validation error).
 * @param {*} body
 * @returns {string}
 */
function detailOf(body) {
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body)
    } catch (e) {
      return body.slice(0, 300)
    }
  }
  if (!body || body.detail === undefined) return ''
  if (typeof body.detail === 'string') return body.detail
  if (Array.isArray(body.detail) && body.detail.length) {
    const first = body.detail[0]
    return `${(first.loc || []).join('.')}: ${first.msg || ''}`
  }
  return JSON.stringify(body.detail)
}

/**
 * Build a query string from an object (undefined values left out).
 * @param {Object<string, *>} [query]
 */
function queryString(query) {
  if (!query) return ''
  const pairs = Object.keys(query).filter(k => query[k] !== undefined && query[k] !== null)
    .map(k => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`)
  return pairs.length ? `?${pairs.join('&')}` : ''
}

/**
 * Send one JSON request to our server.
 * @param {{method?: string, path: string, data?: Object, query?: Object, token?: string|null}} options
 * @returns {Promise<*>} the parsed JSON body of a 2xx answer
 */
function request(options) {
  const header = {'content-type': 'application/json'}
  if (options.token) header.Authorization = `Bearer ${options.token}`
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.baseUrl + options.path + queryString(options.query),
      method: options.method || 'GET',
      data: options.data,
      header,
      timeout: config.timeoutMs,
      dataType: 'json',
      success(res) {
        if (res.statusCode >= 200 && res.statusCode < 300) resolve(res.data)
        else reject(new ApiError(res.statusCode, detailOf(res.data)))
      },
      fail(err) {
        reject(new ApiError(0, (err && err.errMsg) || 'request failed'))
      },
    })
  })
}

/**
 * Upload one local file (a recording or a photo) as multipart form data.
 * @param {{path: string, filePath: string, formData?: Object, token?: string|null}} options
 * @returns {Promise<*>} the parsed JSON body of a 2xx answer
 */
function upload(options) {
  const header = {}
  if (options.token) header.Authorization = `Bearer ${options.token}`
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: config.baseUrl + options.path,
      filePath: options.filePath,
      name: 'file',
      formData: options.formData || {},
      header,
      timeout: config.timeoutMs * 3,
      success(res) {
        // wx.uploadFile hands the body back as a string.
        let body = res.data
        try {
          body = typeof body === 'string' ? JSON.parse(body) : body
        } catch (e) {
          reject(new ApiError(res.statusCode || 502, String(res.data).slice(0, 300)))
          return
        }
        if (res.statusCode >= 200 && res.statusCode < 300) resolve(body)
        else reject(new ApiError(res.statusCode, detailOf(body)))
      },
      fail(err) {
        reject(new ApiError(0, (err && err.errMsg) || 'upload failed'))
      },
    })
  })
}

/**
 * Say what went wrong in the citizen's language.
 * @param {*} err an ApiError (or anything thrown)
 * @param {'voice'|'login'} [context]
 * @returns {string}
 */
function errorText(err, context) {
  const status = err && typeof err.status === 'number' ? err.status : -1
  if (context === 'login' && status !== 0) return i18n.t('errors.login')
  if (status === 0) return i18n.t('errors.network')
  if (status === 401) return i18n.t('errors.auth')
  if (status === 404) return i18n.t('errors.notFound')
  if (status === 409) return i18n.t('errors.conflict')
  if (status === 413) return i18n.t('errors.tooLarge')
  if (status === 415) return i18n.t('errors.unsupported')
  if (status === 422) return i18n.t(context === 'voice' ? 'errors.noSpeech' : 'errors.invalid')
  if (status === 429) return i18n.t('errors.tooMany')
  return i18n.t('errors.server')
}

module.exports = {ApiError, request, upload, errorText, detailOf, queryString}
