/**
 * Message ids: unique per message, made on the phone, so that a resend after a timeout is recognised
 * by the server and answered with the same replies instead of a second turn.
 */

let counter = 0

/**
 * Return a new message id (letters, digits, '-' and '_', 8 to 64 characters, as the server requires).
 * @returns {string}
 */
function newMessageId() {
  counter = (counter + 1) % 1679616
  const random = Math.floor(Math.random() * 2176782336).toString(36)
  return `mp-${Date.now().toString(36)}-${counter.toString(36)}-${random}`
}

module.exports = {newMessageId}
