/**
 * The login session: wx.login → our code2session login → a bearer token, kept in memory and in storage for
 * this session only (until it expires or the citizen logs out). Nothing else about the citizen is stored.
 */

const http = require('./http')

const STORAGE_KEY = 'petition.session'
// Renew a minute before the server would refuse the token.
const MARGIN_MS = 60 * 1000

/** @type {{token: string, expiresAt: number}|null} */
let memory = null
/** @type {Promise<string>|null} */
let pending = null

function now() {
  return Date.now()
}

/**
 * Return the current token if it is still valid, else null.
 * @returns {string|null}
 */
function currentToken() {
  if (!memory) {
    let stored = null
    try {
      stored = wx.getStorageSync(STORAGE_KEY)
    } catch (e) {
      stored = null
    }
    if (stored && typeof stored.token === 'string' && typeof stored.expiresAt === 'number') memory = stored
  }
  if (memory && memory.expiresAt - MARGIN_MS > now()) return memory.token
  return null
}

function wxLogin() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: res => (res && res.code ? resolve(res.code) : reject(new http.ApiError(0, 'wx.login gave no code'))),
      fail: err => reject(new http.ApiError(0, (err && err.errMsg) || 'wx.login failed')),
    })
  })
}

async function doLogin() {
  const code = await wxLogin()
  const answer = await http.request({method: 'POST', path: '/api/v1/miniprogram/login', data: {code}})
  memory = {token: answer.token, expiresAt: now() + Number(answer.expires_in || 0) * 1000}
  wx.setStorageSync(STORAGE_KEY, memory)
  return memory.token
}

/**
 * Log in afresh (one login at a time, however many callers ask).
 * @returns {Promise<string>} the token
 */
function login() {
  if (!pending) {
    pending = doLogin().then(token => {
      pending = null
      return token
    }, err => {
      pending = null
      throw err
    })
  }
  return pending
}

/**
 * Return a valid token, logging in when there is none.
 * @returns {Promise<string>}
 */
function ensure() {
  const token = currentToken()
  return token ? Promise.resolve(token) : login()
}

/** Forget the session: in memory and in storage. */
function logout() {
  memory = null
  wx.removeStorageSync(STORAGE_KEY)
}

/** Tell whether a valid session is held. */
function isLoggedIn() {
  return currentToken() !== null
}

module.exports = {ensure, login, logout, isLoggedIn, currentToken, STORAGE_KEY}
