// Drives an OpenWhisk API with the real JavaScript client (npm "openwhisk")
// for faas/openwhisk's TestIntegrationJSClient.
//
// stdin: {"apihost": "http://127.0.0.1:PORT", "key": "UUID:KEY",
//         "cases": [{"name", "op", "action", "params", "key", "pageSize"}]}
// stdout: one JSON array, per case {"name", "ok", "status", "value", "error"}.
//
// Ops: namespaces, list (pages of pageSize until a short one), get,
// invoke (blocking, result only), invokeAsync (non-blocking, then the
// activation fetched by its id).
'use strict'

const openwhisk = require('openwhisk')

function client (cfg, c) {
  return openwhisk({ apihost: cfg.apihost, api_key: c.key || cfg.key, namespace: '_' })
}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

const ops = {
  namespaces: (ow) => ow.namespaces.list(),
  list: async (ow, c) => {
    const names = []
    for (let skip = 0; skip < 10000; skip += c.pageSize) {
      const page = await ow.actions.list({ limit: c.pageSize, skip })
      page.forEach(a => names.push(a.name))
      if (page.length < c.pageSize) break
    }
    return names
  },
  get: async (ow, c) => {
    const a = await ow.actions.get({ name: c.action })
    const annotations = {}
    for (const kv of a.annotations || []) annotations[kv.key] = kv.value
    return { name: a.name, namespace: a.namespace, annotations, limits: a.limits }
  },
  invoke: (ow, c) => ow.actions.invoke({ name: c.action, params: c.params || {}, blocking: true, result: true }),
  invokeAsync: async (ow, c) => {
    const { activationId } = await ow.actions.invoke({ name: c.action, params: c.params || {} })
    for (let i = 0; i < 400; i++) {
      try {
        const a = await ow.activations.get({ name: activationId })
        return { activationId: a.activationId, idMatches: a.activationId === activationId, name: a.name, result: a.response.result, success: a.response.success, status: a.response.status }
      } catch (err) {
        if (err.statusCode !== 404) throw err
      }
      await sleep(25)
    }
    throw new Error(`activation ${activationId} not found after 10s`)
  }
}

async function main () {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const cfg = JSON.parse(input)
  const out = []
  for (const c of cfg.cases) {
    const op = ops[c.op]
    if (!op) {
      out.push({ name: c.name, ok: false, error: `unknown op ${c.op}` })
      continue
    }
    try {
      const value = await op(client(cfg, c), c)
      out.push({ name: c.name, ok: true, value })
    } catch (err) {
      out.push({ name: c.name, ok: false, status: err.statusCode || null, error: String(err.message || err) })
    }
  }
  process.stdout.write(JSON.stringify(out))
}

main().catch(err => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
