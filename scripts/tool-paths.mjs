// Where the pinned third-party tools live: ~/.cache/berth/tools/<name>-<version>/<name>.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'

const { tools } = JSON.parse(readFileSync(new URL('./tools.json', import.meta.url), 'utf8'))

export function toolsCache () {
  return process.env.BERTH_TOOLS_CACHE ?? path.join(homedir(), '.cache', 'berth', 'tools')
}

export function toolPath (name) {
  const tool = tools[name]
  if (tool === undefined) throw new Error(`unknown tool ${name}`)
  return path.join(toolsCache(), `${name}-${tool.version}`, name)
}
