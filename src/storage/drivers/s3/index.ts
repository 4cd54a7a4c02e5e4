// The S3 storage driver (see driver.ts for how the pieces of this folder fit together).
export { S3Driver, type S3DriverOptions } from './driver.js'
