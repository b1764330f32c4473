// A faithful reproduction of what a stock enebular-agent sends its agent
// manager, for slokeeper's end-to-end test (cmd/slokeeper/agent_test.go).
//
// The agent itself is not published on the npm registry, so the test
// cannot run it. This script is written from reading the agent's source
// (agent/src/winston-enebular.js, agent-manager-mediator.js,
// device-auth-mediator.js, device-state-manager.js, utils.js) and uses
// the same npm packages the agent does, at the versions its package.json
// allows: winston 2 (its common.log formats each event), form-data and
// isomorphic-fetch (node-fetch 1) to upload, jsonwebtoken to read the ID
// token. No code of the agent is copied here.
//
// Usage: node agent.js CONFIG.json, where CONFIG holds baseUrl (the
// agentManagerBaseUrl), authRequestUrl, connectionId, deviceId,
// connectorToken (the source token the operator gave the connector),
// cacheDir, sentDir (each chunk is copied there before it is sent) and
// events ([{level, message, meta}]). It prints one JSON report.
'use strict'

const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const util = require('util')
const winston = require('winston')
const common = require('winston/lib/winston/common')
const FormData = require('form-data')
const fetch = require('isomorphic-fetch')
const jwt = require('jsonwebtoken')

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const report = { uploads: [] }

// The agent's cache rule: one "current" file, "[\n" before the first
// event and ",\n" before each further one; finalized ("\n]" appended,
// renamed enebular-TIMESTAMP-N) before an event once the file's size in
// bytes plus the event's JavaScript length plus 3 reaches 256 KiB.
const maxUploadChunkSize = 256 * 1024
let finalizedSeq = 0

function currentPath () {
  return path.join(cfg.cacheDir, 'current')
}

function finalizeCurrent () {
  if (!fs.existsSync(currentPath())) {
    return
  }
  fs.appendFileSync(currentPath(), '\n]')
  const name = 'enebular-' + String(Date.now()).padStart(17, '0') + '-' + finalizedSeq++
  fs.renameSync(currentPath(), path.join(cfg.cacheDir, name))
}

function appendEvent (output) {
  const outputSize = output.length + 3
  if (fs.existsSync(currentPath()) && fs.statSync(currentPath()).size + outputSize >= maxUploadChunkSize) {
    finalizeCurrent()
  }
  const prefix = fs.existsSync(currentPath()) ? ',\n' : '[\n'
  fs.appendFileSync(currentPath(), prefix + output)
}

// The transport formats an event as the agent's does: winston's
// common.log with JSON output and a timestamp.
function CacheTransport (options) {
  winston.Transport.call(this, options)
}
util.inherits(CacheTransport, winston.Transport)
CacheTransport.prototype.name = 'cache'
CacheTransport.prototype.log = function (level, msg, meta, callback) {
  const output = common.log({
    colorize: false,
    json: true,
    level: level,
    message: msg,
    meta: meta,
    stringify: true,
    timestamp: true,
    prettyPrint: false,
    raw: false,
    label: '',
    depth: null
  })
  appendEvent(output)
  callback(null, true)
}

function finalizedFiles () {
  return fs.readdirSync(cfg.cacheDir).filter(n => /^enebular-[0-9]+-[0-9]+$/.test(n)).sort()
}

// sendLog uploads one finalized file as the agent does: a multipart form
// whose part "events" is the file's stream, with the access token as a
// bearer token. The file is deleted only on a 2xx answer with JSON.
async function sendLog (file, token) {
  const form = new FormData()
  form.append('events', fs.createReadStream(file))
  const res = await fetch(`${cfg.baseUrl}/record-logs?is_device_master=false`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: form
  })
  const text = await res.text()
  let body = null
  try {
    body = JSON.parse(text)
  } catch (err) {
    body = null
  }
  const sent = res.ok && body !== null
  if (sent) {
    fs.unlinkSync(file)
  }
  return { file: path.basename(file), status: res.status, sent, body: body || text }
}

// postJSON is the agent's: a JSON body, a JSON answer expected.
async function postJSON (url, body, token) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' }
  if (token) {
    headers.Authorization = `Bearer ${token}`
  }
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

async function main () {
  fs.mkdirSync(cfg.cacheDir, { recursive: true })
  fs.mkdirSync(cfg.sentDir, { recursive: true })

  // Authentication, the agent's way: its auth request carries a nonce
  // and a state; its tokens come back by its connector as an updateAuth
  // message, which the connector here fetches from slokeeper with the
  // token the operator gave it. The agent takes them only when the ID
  // token's nonce and the state are its own.
  const nonce = crypto.randomBytes(16).toString('hex')
  const state = 'req-1'
  report.authRequest = await postJSON(cfg.authRequestUrl, {
    connectionId: cfg.connectionId, deviceId: cfg.deviceId, nonce, state
  })
  const tokens = await postJSON(`${cfg.baseUrl}/auth/tokens`, {
    connectionId: cfg.connectionId, deviceId: cfg.deviceId
  }, cfg.connectorToken)
  const payload = jwt.decode(tokens.body.idToken)
  report.auth = {
    status: tokens.status,
    accepted: tokens.body.state === state && !!payload && payload.nonce === nonce
  }
  if (!report.auth.accepted) {
    throw new Error('the agent would refuse these tokens: ' + JSON.stringify(tokens))
  }
  const accessToken = tokens.body.accessToken

  // What the agent asks of its agent manager at start.
  report.stateGet = await postJSON(`${cfg.baseUrl}/device/device-state/get`, {
    states: [{ type: 'desired' }, { type: 'reported' }, { type: 'status' }]
  }, accessToken)
  report.stateUpdate = await postJSON(`${cfg.baseUrl}/device/device-state/update`, {
    updates: [{ type: 'status', op: 'set', path: 'monitoring', state: { active: true } }]
  }, accessToken)
  report.notifyStatus = await postJSON(`${cfg.baseUrl}/notify-status`, { status: 'connected' }, accessToken)

  // Log every event through winston, then finalize and send as the
  // agent's periodic send does.
  const logger = new winston.Logger({ transports: [new CacheTransport({ level: 'debug' })], levels: winston.config.npm.levels })
  for (const ev of cfg.events) {
    await new Promise((resolve, reject) => logger.log(ev.level, ev.message, ev.meta, err => err ? reject(err) : resolve()))
  }
  finalizeCurrent()
  const files = finalizedFiles()
  for (const name of files) {
    fs.copyFileSync(path.join(cfg.cacheDir, name), path.join(cfg.sentDir, name))
  }
  // The first chunk is sent twice, as after an answer the agent lost.
  fs.copyFileSync(path.join(cfg.cacheDir, files[0]), path.join(cfg.cacheDir, 'resend'))
  for (const name of files) {
    report.uploads.push(await sendLog(path.join(cfg.cacheDir, name), accessToken))
  }
  report.resend = await sendLog(path.join(cfg.cacheDir, 'resend'), accessToken)
  report.left = fs.readdirSync(cfg.cacheDir)
  process.stdout.write(JSON.stringify(report))
}

main().catch(err => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
