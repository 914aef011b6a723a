/** Jest: page and logic tests in jsdom (miniprogram-simulate renders WXML there), one file at a time. */
module.exports = {
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/test/**/*.test.js'],
  setupFilesAfterEnv: ['<rootDir>/test/setup.js'],
  testTimeout: 20000,
}
