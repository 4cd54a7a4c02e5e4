// A one-file tar archive, built by hand (ustar header, data padded to 512 bytes, two zero blocks): a layer real
// clients such as crane accept, with no archive library in the test.
export function tarLayer (name: string, content: string): Buffer {
  const header = Buffer.alloc(512)
  header.write(name, 0)
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  const data = Buffer.from(content)
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124)
  header.write('00000000000\0', 136)
  header.write('0', 156)
  header.write('        ', 148) // the checksum is computed with its own field as spaces
  let sum = 0
  for (const byte of header) sum += byte
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
  return Buffer.concat([header, data, Buffer.alloc(512 - (data.length % 512 || 512)), Buffer.alloc(1024)])
}
