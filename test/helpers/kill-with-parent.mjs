// A watchdog for a child a test starts that cannot watch its parent itself (MinIO, a Go binary):
// `node kill-with-parent.mjs <pid>`, spawned by the test with a stdin pipe. When the test process dies,
// however it dies, the pipe closes (or the watchdog is re-parented) and the watchdog SIGKILLs <pid>
// (after SIGCONT, in case a fault test had paused it). It exits by itself once <pid> is gone.
const target = Number(process.argv[2])
const parent = process.ppid

const alive = () => { try { process.kill(target, 0); return true } catch { return false } }
function killTarget () {
  try { process.kill(target, 'SIGCONT'); process.kill(target, 'SIGKILL') } catch {}
  process.exit(0)
}

process.stdin.on('end', killTarget)
process.stdin.on('error', killTarget)
process.stdin.resume()
setInterval(() => {
  if (process.ppid !== parent) killTarget()
  if (!alive()) process.exit(0)
}, 1000)
