// Preloaded into the fuzzed server (node --import): the test starts it with an IPC channel, which closes when
// the test process dies for any reason (tap's timeout, SIGKILL), and then the server must die too.
if (process.send !== undefined) {
  process.channel?.unref() // the channel alone must not keep the server running
  process.on('disconnect', () => { process.kill(process.pid, 'SIGKILL') })
}
