// The package ships no types; this is the part of its output the metrics tests read.
declare module 'parse-prometheus-text-format' {
  export interface ParsedSample { value?: string, labels?: Record<string, string>, buckets?: Record<string, string>, count?: string, sum?: string }
  export interface ParsedFamily { name: string, help: string, type: string, metrics: ParsedSample[] }
  export default function parsePrometheusTextFormat (text: string): ParsedFamily[]
}
