export function toolsCache (): string
export function toolPath (name: string): string
