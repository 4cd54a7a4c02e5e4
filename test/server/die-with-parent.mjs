// Preloaded into every Berth process a test in this folder starts (node --import): if the test process
// dies without stopping it (killed, crashed), the child notices it was re-parented and kills itself.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL')
}, 500).unref()
