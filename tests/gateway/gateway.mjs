// A Wechaty puppet service on loopback for villagebot's tests: the official gRPC
// gateway (PuppetServer) wrapping the mock puppet, plus a small HTTP control endpoint.
//
//   node gateway.mjs            (settings from the environment)
//   GATEWAY_PORT     gRPC port of the puppet service (127.0.0.1)
//   GATEWAY_CONTROL  HTTP control port (127.0.0.1)
//   GATEWAY_TOKEN    the token the bot must present
//   GATEWAY_FIXTURE  JSON: {"bot": {"id", "name"}, "contacts": [{"id", "name"}],
//                           "rooms": [{"id": "room1@chatroom", "topic", "members": [ids]}]}
//
// Control endpoint (JSON):
//   GET  /status                    {"ready": true, "loggedIn": bool}
//   POST /say {"from", "room"|"to", "text", "mentions": [ids], "at"}  -> {"id"}
//        ("at": WeChat's timestamp of the message in ms, default now: the same message
//        arriving at two bot accounts in one group has the same sender, text and time;
//        each gateway still gives it its own id)
//   GET  /log?room=ID  (or ?to=ID)  every message seen there, the bot's included
//   POST /logout                    WeChat logs the bot out (the next start logs it in)
//   POST /join {"room", "members": [ids], "inviter"}  members join the room (room-join)
//
// Prints "GATEWAY READY <grpc port> <control port>" once both listen. Several instances
// (several bot accounts) run side by side on their own ports, each with its own bot
// contact; the same room id in two fixtures is one group holding two bot accounts.

import http from 'node:http'
import { PuppetServer } from 'wechaty-puppet-service'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import * as PUPPET from 'wechaty-puppet'

const port = Number(process.env.GATEWAY_PORT || 8788)
const controlPort = Number(process.env.GATEWAY_CONTROL || 8789)
const token = process.env.GATEWAY_TOKEN || 'test-token'
const fixture = JSON.parse(process.env.GATEWAY_FIXTURE || '{}')

// Message ids stay unique across gateway restarts: the bot drops ids it has seen.
const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`
let counter = 0
const nextId = () => `gw-${runId}-${++counter}`

const mocker = new mock.Mocker()
const botSpec = fixture.bot || { id: 'wxid_bot', name: '村务助手' }
const bot = mocker.createContact({ id: botSpec.id, name: botSpec.name })
for (const c of fixture.contacts || []) {
  mocker.createContact({ id: c.id, name: c.name })
}
const rooms = new Map()
for (const r of fixture.rooms || []) {
  const members = [bot.id, ...(r.members || [])]
  rooms.set(r.id, mocker.createRoom({ id: r.id, topic: r.topic || r.id, memberIdList: members }))
}

// Everything said anywhere, in order.
const log = []
function record (payload) {
  log.push({
    id: payload.id,
    from: payload.talkerId,
    room: payload.roomId || null,
    to: payload.listenerId || null,
    type: payload.type === PUPPET.types.Message.Image ? 'image' : 'text',
    text: payload.text || '',
    mentions: payload.mentionIdList || [],
    file: payload.fileName || null,
    at: payload.timestamp,
  })
}

// Every message, the bot's included, is created here: logged, then announced.
function emitMessage (payload) {
  mocker.MessageMock.create(payload)
  record(payload)
  puppet.emit('message', { messageId: payload.id })
  return payload.id
}

function conversationPayload (talkerId, conversationId, mentions, at) {
  const base = { id: nextId(), talkerId, timestamp: at || Date.now() }
  if (rooms.has(conversationId)) {
    return { ...base, roomId: conversationId, mentionIdList: mentions || [] }
  }
  mocker.contactPayload(conversationId) // throws for an unknown contact
  return { ...base, listenerId: conversationId }
}

// PuppetMock's own senders return no message id; these return one and log the message.
class GatewayPuppet extends PuppetMock {
  async messageSendText (conversationId, text, mentionIdList) {
    if (!this.isLoggedIn) throw new Error('not logged in')
    const payload = conversationPayload(this.currentUserId, conversationId, mentionIdList)
    return emitMessage({ ...payload, type: PUPPET.types.Message.Text, text })
  }

  async messageSendFile (conversationId, fileBox) {
    if (!this.isLoggedIn) throw new Error('not logged in')
    const payload = conversationPayload(this.currentUserId, conversationId, [])
    mocker.cacheFileBoxPayload.set(payload.id, fileBox.toJSON())
    return emitMessage({ ...payload, type: PUPPET.types.Message.Image, fileName: fileBox.name })
  }
}

const puppet = new GatewayPuppet({ mocker })
// The client stops and starts the puppet on every connection: log in on each start.
mocker.use((m) => {
  m.login(bot)
  return () => {}
})

const server = new PuppetServer({
  puppet,
  token,
  endpoint: `127.0.0.1:${port}`,
  tls: { disable: true },
})

function readBody (req) {
  return new Promise((resolve, reject) => {
    let data = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => { data += chunk })
    req.on('end', () => resolve(data))
    req.on('error', reject)
  })
}

function reply (res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
}

const control = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1')
  try {
    if (req.method === 'GET' && url.pathname === '/status') {
      return reply(res, 200, { ready: true, loggedIn: puppet.isLoggedIn })
    }
    if (req.method === 'GET' && url.pathname === '/log') {
      const room = url.searchParams.get('room')
      const to = url.searchParams.get('to')
      const rows = log.filter((m) => (room ? m.room === room : true) &&
        (to ? (m.to === to || (m.from === to && !m.room)) : true))
      return reply(res, 200, rows)
    }
    if (req.method === 'POST' && url.pathname === '/logout') {
      await puppet.logout('kicked out by the test')
      return reply(res, 200, { loggedIn: puppet.isLoggedIn })
    }
    if (req.method === 'POST' && url.pathname === '/join') {
      const body = JSON.parse(await readBody(req))
      if (!rooms.has(body.room)) throw new Error(`unknown room ${body.room}`)
      for (const id of body.members) mocker.contactPayload(id) // throws for an unknown contact
      puppet.emit('room-join', {
        roomId: body.room,
        inviteeIdList: body.members,
        inviterId: body.inviter,
        timestamp: Date.now(),
      })
      return reply(res, 200, { ok: true })
    }
    if (req.method === 'POST' && url.pathname === '/say') {
      const body = JSON.parse(await readBody(req))
      mocker.contactPayload(body.from) // throws for an unknown speaker
      const payload = conversationPayload(body.from, body.room || body.to, body.mentions,
        body.at)
      const id = emitMessage({ ...payload, type: PUPPET.types.Message.Text, text: body.text })
      return reply(res, 200, { id })
    }
    return reply(res, 404, { error: 'not found' })
  } catch (e) {
    return reply(res, 400, { error: String(e && e.message ? e.message : e) })
  }
})

async function main () {
  await server.start()
  await new Promise((resolve) => control.listen(controlPort, '127.0.0.1', resolve))
  console.log(`GATEWAY READY ${port} ${controlPort}`)
}

async function shutdown () {
  control.close()
  await server.stop().catch(() => {})
  process.exit(0)
}

process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
