/**
 * How petitions read on the pages: status labels, dates and deadlines (in China Standard Time, as the
 * statutory clock counts them), timeline entries and reply kinds.
 */

const i18n = require('./i18n')

// The deployment's timezone (Asia/Shanghai) has no daylight saving time: a fixed offset is exact.
const OFFSET_MS = 8 * 3600 * 1000
const DAY_MS = 24 * 3600 * 1000

/** Statuses that need nothing more from anyone. */
const TERMINAL = ['not_accepted', 'forwarded', 'closed', 'final', 'withdrawn', 'merged']

/**
 * Return the label of a status in the current language (the back end's name when the status is new to us).
 * @param {string} status
 * @param {string} [fallback]
 * @returns {string}
 */
function statusLabel(status, fallback) {
  const key = `status.${status}`
  const text = i18n.t(key)
  return text === key ? (fallback || status) : text
}

/**
 * Return a CSS class for a status: done, waiting (on the citizen) or active.
 * @param {string} status
 * @returns {'done'|'waiting'|'active'}
 */
function statusTone(status) {
  if (TERMINAL.indexOf(status) >= 0) return 'done'
  if (status === 'replied' || status === 'review_replied') return 'waiting'
  return 'active'
}

function pad(n) {
  return n < 10 ? `0${n}` : String(n)
}

/**
 * Return the China-time calendar parts of an ISO timestamp, or null when it cannot be read.
 * @param {string} iso
 */
function parts(iso) {
  const ms = Date.parse(iso)
  if (!iso || Number.isNaN(ms)) return null
  const d = new Date(ms + OFFSET_MS)
  return {y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), min: d.getUTCMinutes()}
}

/**
 * Format an ISO timestamp as YYYY-MM-DD in China time ('' when absent).
 * @param {string|null|undefined} iso
 * @returns {string}
 */
function formatDate(iso) {
  const p = parts(iso)
  return p ? `${p.y}-${pad(p.m)}-${pad(p.d)}` : ''
}

/**
 * Format an ISO timestamp as YYYY-MM-DD HH:mm in China time ('' when absent).
 * @param {string|null|undefined} iso
 * @returns {string}
 */
function formatDateTime(iso) {
  const p = parts(iso)
  return p ? `${p.y}-${pad(p.m)}-${pad(p.d)} ${pad(p.h)}:${pad(p.min)}` : ''
}

/**
 * Count calendar days (China time) from now until a moment; negative when it has passed.
 * @param {string} iso
 * @param {Date|number} now
 * @returns {number}
 */
function daysUntil(iso, now) {
  const due = Math.floor((Date.parse(iso) + OFFSET_MS) / DAY_MS)
  const today = Math.floor((Number(now) + OFFSET_MS) / DAY_MS)
  return due - today
}

/**
 * Describe a deadline: its text and urgency (ok: more than 3 days, soon: 3 days or less, overdue: passed).
 * @param {string|null|undefined} iso
 * @param {Date|number} [now]
 * @returns {{text: string, level: 'none'|'ok'|'soon'|'overdue', date: string}}
 */
function deadline(iso, now) {
  if (!iso || Number.isNaN(Date.parse(iso))) return {text: i18n.t('deadline.none'), level: 'none', date: ''}
  const at = now === undefined ? Date.now() : Number(now)
  const date = formatDate(iso)
  if (Date.parse(iso) < at) {
    return {text: i18n.t('deadline.overdue', {date, days: Math.max(1, -daysUntil(iso, at))}), level: 'overdue', date}
  }
  const days = daysUntil(iso, at)
  if (days === 0) return {text: i18n.t('deadline.today', {date}), level: 'soon', date}
  return {text: i18n.t('deadline.left', {date, days}), level: days <= 3 ? 'soon' : 'ok', date}
}

/**
 * Shape a petition of the list (GET /petitions) for the petitions page.
 * @param {{tracking_no: string, title: string, status: string, status_name: string, received_at: string,
 *   due_at: string|null, unit: string|null, replies: Array}} p
 * @param {Date|number} [now]
 */
function petitionCard(p, now) {
  const due = TERMINAL.indexOf(p.status) >= 0 ? deadline(null) : deadline(p.due_at, now)
  return {
    trackingNo: p.tracking_no,
    title: p.title,
    status: p.status,
    statusLabel: statusLabel(p.status, p.status_name),
    tone: statusTone(p.status),
    unit: p.unit ? i18n.t('petitions.unit', {unit: p.unit}) : i18n.t('petitions.unitPending'),
    received: i18n.t('petitions.received', {date: formatDate(p.received_at)}),
    deadline: due,
    replies: (p.replies || []).length,
  }
}

/**
 * Shape one timeline event (GET /petitions/{no}/timeline) as a line of the progress list.
 * @param {{action: string, status: string|null, at: string, unit?: string|null, due_at?: string|null,
 *   reason?: string|null, satisfied?: boolean|null, into?: string|null}} e
 * @returns {{key: string, label: string, at: string, notes: string[]}}
 */
function timelineItem(e) {
  let label
  if (e.action === 'feedback') {
    label = i18n.t(e.satisfied ? 'timeline.feedback_yes' : 'timeline.feedback_no')
  } else {
    const key = `timeline.${e.action}`
    label = i18n.t(key, {unit: e.unit || i18n.t('timeline.unknownUnit'), into: e.into || ''})
    if (label === key) label = e.status ? statusLabel(e.status) : e.action
  }
  const notes = []
  if (e.due_at) notes.push(i18n.t('timeline.due', {date: formatDate(e.due_at)}))
  if (e.reason) notes.push(i18n.t('timeline.reason', {reason: e.reason}))
  return {key: `${e.action}-${e.at}`, label, at: formatDateTime(e.at), notes}
}

/**
 * Shape a reply for the detail page.
 * @param {{kind: string, text: string, created_at: string}} r
 */
function replyItem(r) {
  const key = `reply.${r.kind}`
  const kind = i18n.t(key)
  return {key: `${r.kind}-${r.created_at}`, kind: kind === key ? r.kind : kind, text: r.text, at: formatDateTime(r.created_at)}
}

/**
 * Shorten a text to n characters for a one-line preview.
 * @param {string} text
 * @param {number} n
 */
function preview(text, n) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim()
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat
}

module.exports = {
  statusLabel, statusTone, formatDate, formatDateTime, daysUntil, deadline, petitionCard, timelineItem, replyItem,
  preview, TERMINAL,
}
