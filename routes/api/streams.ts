// Placeholder: the streams resources (issue 3) replace this file.
import type { Resource } from '../../plugins/app/rest.js'

export const streamsResources: Resource[] = []
