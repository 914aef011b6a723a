/** Helpers of the page tests: open a page as WeChat would, read its rendered text, make temp files. */

const fs = require('fs')
const os = require('os')
const path = require('path')
const simulate = require('miniprogram-simulate')

const SRC = path.join(__dirname, '..', 'src')

/**
 * Load, render and attach a page, then run its onLoad (and onShow) with the query.
 * @param {string} name the folder under src/pages
 * @param {Object<string, string>} [query]
 */
// Jest keeps modules in its own registry, so a page's JS runs (and registers its component) once per test file.
const loaded = {}

function openPage(name, query) {
  const id = loaded[name] || (loaded[name] = simulate.load(path.join(SRC, 'pages', name, name), {rootPath: SRC}))
  const page = simulate.render(id)
  page.attach(document.createElement('parent-wrapper'))
  page.instance.onLoad(query || {})
  if (typeof page.instance.onShow === 'function') page.instance.onShow()
  return page
}

/** Return the page's rendered text, whitespace squeezed. */
function textOf(page, selector) {
  const node = selector ? page.querySelector(selector) : page
  return node ? node.dom.textContent.replace(/\s+/g, ' ').trim() : ''
}

/** Tap an element found by selector (its bindtap handler runs). */
async function tap(page, selector, index) {
  const nodes = page.querySelectorAll(selector)
  const node = nodes[index || 0]
  if (!node) throw new Error(`nothing matches ${selector}`)
  node.dispatchEvent('tap')
  await simulate.sleep(0)
}

/** Write a temp file and return its path (a recording or a photo, as the phone would hand over). */
const tempDirs = []

function tempFile(name, content) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-test-'))
  tempDirs.push(dir)
  const file = path.join(dir, name)
  fs.writeFileSync(file, content)
  return file
}

/** Remove the temp files of this test file. */
function cleanup() {
  while (tempDirs.length) fs.rmSync(tempDirs.pop(), {recursive: true, force: true})
}

/** Wait until a condition holds (polling every 20 ms), or fail after `ms`. */
async function until(condition, ms) {
  const deadline = Date.now() + (ms || 5000)
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await simulate.sleep(20)
  }
}

module.exports = {openPage, textOf, tap, tempFile, cleanup, until, simulate, SRC}
