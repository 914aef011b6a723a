/** Jest setup: the wx fakes on the global wx, and fresh fakes and module state before every test. */

const wxFake = require('./wx-fake')

wxFake.install()

beforeEach(() => {
  wxFake.reset()
  require('../src/services/session').logout()
  require('../src/services/recorder').reset()
  require('../src/utils/i18n').reset()
})

afterAll(() => {
  require('./helpers').cleanup()
})
