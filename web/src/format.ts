// Sizes and dates for people.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function humanSize (bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '—'
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit++ }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

export function humanDate (value: string | number | undefined): string {
  if (value === undefined || value === '') return '—'
  const date = typeof value === 'number' ? new Date(value * (value < 1e12 ? 1000 : 1)) : new Date(value)
  if (Number.isNaN(date.getTime())) return String(value)
  if (date.getTime() <= 0) return '—' // reproducible builds record the epoch (or year 1): no real date
  const seconds = (date.getTime() - Date.now()) / 1000
  const steps: Array<[number, Intl.RelativeTimeFormatUnit]> = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day']]
  let amount = seconds
  for (const [size, unit] of steps) {
    if (Math.abs(amount) < size) return `${relative.format(Math.round(amount), unit)} (${dateFormat.format(date)})`
    amount /= size
  }
  return dateFormat.format(date)
}

export const shortDigest = (digest: string | undefined): string => digest === undefined ? '—' : digest.replace(/^(sha256:)?(.{12}).*$/, '$1$2…')
