export interface PageRequest {
  limit: number
  /** Items up to and including this one are skipped. */
  last?: string
}

export interface Page<T> {
  items: T[]
  truncated: boolean
}
