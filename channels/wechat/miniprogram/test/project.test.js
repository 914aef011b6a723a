/**
 * The project as WeChat's developer tools open it: project.config.json points at src/, every page of app.json
 * has its four files and is a page (not a component), and the source is plain ES2017 requiring only itself.
 */

const fs = require('fs')
const path = require('path')
const {openPage} = require('./helpers')

const HERE = path.join(__dirname, '..')
const SRC = path.join(HERE, 'src')

function json(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

function sources(dir) {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap(entry => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? sources(full) : [full]
  })
}

test('project.config.json, app.json and sitemap.json', () => {
  const project = json(path.join(HERE, 'project.config.json'))
  expect(project).toMatchObject({appid: 'touristappid', compileType: 'miniprogram', miniprogramRoot: 'src/'})
  const app = json(path.join(SRC, 'app.json'))
  expect(app.pages[0]).toBe('pages/home/home')
  expect(app.pages).toEqual(expect.arrayContaining(['pages/chat/chat', 'pages/petitions/petitions',
    'pages/detail/detail', 'pages/mediation/mediation']))
  expect(app.requiredPrivateInfos).toContain('chooseLocation')
  expect(json(path.join(SRC, app.sitemapLocation)).rules).toEqual([{action: 'disallow', page: '*'}])
  for (const file of ['app.js', 'app.wxss']) expect(fs.existsSync(path.join(SRC, file))).toBe(true)
  for (const page of app.pages) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) expect(fs.existsSync(path.join(SRC, `${page}.${ext}`))).toBe(true)
    const config = json(path.join(SRC, `${page}.json`))
    expect(config.component).toBeUndefined() // a page built with Component() is still declared as a page
    expect(config.usingComponents).toEqual({})
  }
})

test('the source is ES2017 for the mini-program runtime: relative requires only, no newer syntax', () => {
  const files = sources(SRC).filter(f => f.endsWith('.js'))
  expect(files.length).toBeGreaterThan(10)
  for (const file of files) {
    const code = fs.readFileSync(file, 'utf8')
    const requires = Array.from(code.matchAll(/require\('([^']+)'\)/g)).map(m => m[1])
    for (const target of requires) {
      expect(target.startsWith('.')).toBe(true)
      expect(fs.existsSync(path.resolve(path.dirname(file), `${target}.js`))).toBe(true)
    }
    // Optional chaining, nullish coalescing, private fields, import/export: none in ES2017.
    expect(code).not.toMatch(/\?\.[A-Za-z_([]|\?\?|^\s*#\w|^\s*(import|export)\s/m)
    expect(code).not.toMatch(/\b(process|Buffer|__dirname)\b/)
    expect(code).not.toMatch(/\.finally\(|\bURL\(|\bfetch\(/)
  }
})

test('every page renders in both languages from one compilation of the whole project', () => {
  const i18n = require('../src/utils/i18n')
  require('./wx-fake').fake.offline = true // no server here: the pages show their error state
  for (const locale of ['zh', 'en']) {
    i18n.setLocale(locale)
    for (const name of ['home', 'chat', 'petitions', 'detail', 'mediation']) {
      const page = openPage(name, {})
      expect(page.data.locale).toBe(locale)
      expect(page.data.t.common.send).toBe(locale === 'zh' ? '发送' : 'Send')
      if (page.instance.onUnload) page.instance.onUnload()
    }
  }
})
