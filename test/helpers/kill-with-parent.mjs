// A watchdog for a child a test starts that cannot watch its parent itself (MinIO, a Go binary):
// `node kill-with-parent.mjs <pid> [graceMs]`, spawned by the test with a stdin pipe. When the test process
// dies, however it dies, the pipe closes (or the watchdog is re-parented) and the watchdog SIGKILLs <pid>
// (after SIGCONT, in case a fault test had paused it). With graceMs it sends SIGTERM first and SIGKILLs only
// if <pid> is still there after graceMs (dockerd unmounts its data root on SIGTERM, not on SIGKILL). It
// exits by itself once <pid> is gone.
const target = Number(process.argv[2])
const graceMs = Number(process.argv[3] ?? 0)
const parent = process.ppid

const alive = () => { try { process.kill(target, 0); return true } catch { return false } }
function forceKill () {
  try { process.kill(target, 'SIGCONT'); process.kill(target, 'SIGKILL') } catch {}
  process.exit(0)
}
let killing = false
function killTarget () {
  if (killing) return
  killing = true
  if (graceMs <= 0) forceKill()
  try { process.kill(target, 'SIGCONT'); process.kill(target, 'SIGTERM') } catch { process.exit(0) }
  const deadline = Date.now() + graceMs
  setInterval(() => { if (!alive()) process.exit(0); if (Date.now() > deadline) forceKill() }, 100)
}

process.stdin.on('end', killTarget)
process.stdin.on('error', killTarget)
process.stdin.resume()
setInterval(() => {
  if (process.ppid !== parent) killTarget()
  if (!alive()) process.exit(0)
}, 1000)
