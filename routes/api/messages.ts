// Placeholder: the messages resources (issue 3) replace this file.
import type { Resource } from '../../plugins/app/rest.js'

export const messagesResources: Resource[] = []
