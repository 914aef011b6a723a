/**
 * Deployment settings of the mini-program: the one place to change the server it talks to.
 *
 * In WeChat's admin console (开发管理 → 服务器域名) the base URL's domain must be a "request" and
 * "uploadFile" legal domain, and the mediation origin a business domain (业务域名) for <web-view>.
 */

/** @type {{baseUrl: string, mediationOrigins: string[], pollIntervalMs: number, timeoutMs: number,
 *   record: {duration: number, sampleRate: number, numberOfChannels: number, encodeBitRate: number, format: string},
 *   minRecordMs: number, maxImageBytes: number}} */
const config = {
  // Our petition-intake server (no trailing slash). Production: https://petition.example.gov.cn
  baseUrl: 'http://127.0.0.1:8000',
  // Origins a mediation invitation may open in <web-view>; empty means the base URL's origin only.
  mediationOrigins: [],
  // How often the chat asks for messages an agent wrote (ms) while the chat page is shown.
  pollIntervalMs: 5000,
  timeoutMs: 20000,
  // wx.getRecorderManager().start options: mono 16 kHz mp3 is what our speech engine reads best; 60 s at most.
  record: {duration: 60000, sampleRate: 16000, numberOfChannels: 1, encodeBitRate: 48000, format: 'mp3'},
  minRecordMs: 800,
  // The server refuses uploads over ~950 KB; photos above this are compressed first.
  maxImageBytes: 900000,
}

/**
 * Return the scheme://host[:port] part of a URL, lower-cased; '' when it is not an http(s) URL.
 * @param {string} url
 * @returns {string}
 */
function originOf(url) {
  const match = /^(https?):\/\/([^/?#\s@]+)(?:[/?#]|$)/i.exec(String(url || ''))
  return match ? `${match[1]}://${match[2]}`.toLowerCase() : ''
}

/**
 * Tell whether a mediation invitation URL may be opened in the web-view (an allowed origin, no odd characters).
 * @param {string} url
 * @returns {boolean}
 */
function isMediationUrl(url) {
  if (typeof url !== 'string' || url.length > 2000 || /\s/.test(url)) return false
  const origin = originOf(url)
  if (!origin) return false
  const allowed = (config.mediationOrigins.length ? config.mediationOrigins : [config.baseUrl]).map(originOf)
  return allowed.indexOf(origin) >= 0
}

module.exports = {config, originOf, isMediationUrl}
