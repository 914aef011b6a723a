/**
 * The mini-program API of our server (/api/v1/miniprogram), one function per endpoint.
 *
 * Every call carries the session token; a 401 (expired or revoked session) logs in again once and retries.
 * Shapes follow channels/wechat/api.py and channels/wechat/miniprogram_api.py on the server.
 */

const http = require('./http')
const session = require('./session')
const i18n = require('../utils/i18n')

const BASE = '/api/v1/miniprogram'

/**
 * @typedef {{text: string, quick_replies: string[], seq: (number|null)}} Reply
 * @typedef {{seq: number, direction: 'in'|'out', author: string, text: string, quick_replies: string[],
 *   created_at: string}} HistoryMessage
 * @typedef {{tracking_no: string, title: string, status: string, status_name: string, received_at: string,
 *   due_at: (string|null), unit: (string|null), replies: Array<{kind: string, text: string, created_at: string}>}}
 *   Petition
 * @typedef {{tracking_no: string, status: string, status_name: string, due_at: (string|null), events: Array,
 *   can_feedback: boolean, feedback_due_at: (string|null), can_request_review: boolean,
 *   review_request_due_at: (string|null), can_supplement: boolean}} Progress
 */

async function authed(send) {
  let token = await session.ensure()
  try {
    return await send(token)
  } catch (err) {
    if (!err || err.status !== 401) throw err
    session.logout()
    token = await session.login()
    return send(token)
  }
}

function call(method, path, data, query) {
  return authed(token => http.request({method, path: BASE + path, data, query, token}))
}

function uploadTo(path, filePath, formData) {
  return authed(token => http.upload({path: BASE + path, filePath, formData, token}))
}

function seg(trackingNo) {
  return encodeURIComponent(String(trackingNo))
}

/**
 * Send one text message.
 * @param {string} text
 * @param {string} messageId unique per message; resending it returns the same replies
 * @returns {Promise<{replies: Reply[]}>}
 */
function sendText(text, messageId) {
  return call('POST', '/chat', {message_id: messageId, text, locale: i18n.apiLocale()})
}

/**
 * Return the conversation after a sequence number.
 * @param {number} [after]
 * @returns {Promise<{messages: HistoryMessage[]}>}
 */
function history(after) {
  return call('GET', '/chat/history', undefined, {after: after || 0})
}

/**
 * Upload a voice recording (transcribed by the server) or a photo as one chat message.
 * @param {'voice'|'image'} kind
 * @param {string} filePath a temp file path from the recorder or wx.chooseMedia
 * @param {string} messageId
 * @returns {Promise<{transcript: (string|null), replies: Reply[]}>}
 */
function sendMedia(kind, filePath, messageId) {
  return uploadTo('/chat/media', filePath, {kind, message_id: messageId, locale: i18n.apiLocale()})
}

/**
 * Send a place chosen with wx.chooseLocation.
 * @param {{latitude: number, longitude: number, name?: string, address?: string}} place
 * @param {string} messageId
 * @returns {Promise<{transcript: null, replies: Reply[]}>}
 */
function sendLocation(place, messageId) {
  return call('POST', '/chat/location', {
    message_id: messageId, latitude: place.latitude, longitude: place.longitude, name: place.name || '',
    address: place.address || '', locale: i18n.apiLocale(),
  })
}

/** @returns {Promise<{petitions: Petition[]}>} */
function petitions() {
  return call('GET', '/petitions', undefined, {locale: i18n.apiLocale()})
}

/** @returns {Promise<Petition & {content: string, address: (string|null), demand: (string|null), supplements: Array}>} */
function petition(trackingNo) {
  return call('GET', `/petitions/${seg(trackingNo)}`, undefined, {locale: i18n.apiLocale()})
}

/** @returns {Promise<Progress>} */
function timeline(trackingNo) {
  return call('GET', `/petitions/${seg(trackingNo)}/timeline`, undefined, {locale: i18n.apiLocale()})
}

/** @returns {Promise<Progress>} */
function feedback(trackingNo, satisfied, reason) {
  return call('POST', `/petitions/${seg(trackingNo)}/feedback`, {satisfied, reason: reason || null},
    {locale: i18n.apiLocale()})
}

/** @returns {Promise<Progress>} */
function requestReview(trackingNo, reason) {
  return call('POST', `/petitions/${seg(trackingNo)}/review`, {reason}, {locale: i18n.apiLocale()})
}

/** @returns {Promise<Progress>} */
function supplement(trackingNo, text) {
  return call('POST', `/petitions/${seg(trackingNo)}/supplements`, {text}, {locale: i18n.apiLocale()})
}

/** @returns {Promise<Progress>} */
function supplementPhoto(trackingNo, filePath, text) {
  return uploadTo(`/petitions/${seg(trackingNo)}/supplements/image`, filePath,
    {text: text || '', locale: i18n.apiLocale()})
}

module.exports = {
  sendText, history, sendMedia, sendLocation, petitions, petition, timeline, feedback, requestReview, supplement,
  supplementPhoto,
}
