// Preloaded (node --import) into every server a test spawns, so that the server dies with the test process
// even when that process is killed outright (tap's per-file timeout, SIGKILL) and runs no teardown. The
// test holds the child's stdin open; when it closes, or when the parent changes (re-parented to init), the
// server shuts down as on SIGTERM, and is forced out 5 s later if that hangs.
const parent = process.ppid

function shutDown () {
  setTimeout(() => { process.exit(1) }, 5000).unref()
  process.kill(process.pid, 'SIGTERM')
}

process.stdin.on('end', shutDown)
process.stdin.on('error', shutDown)
process.stdin.resume()
setInterval(() => { if (process.ppid !== parent) shutDown() }, 1000).unref()
