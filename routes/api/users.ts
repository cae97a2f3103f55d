// Users: /users, /users/me, /users/{user_id}, /users/me/api_key/regenerate (SPEC §6).
import { Type } from 'typebox'
import { resource, verb } from '../../plugins/app/http/rest.js'
import { errors } from '../../plugins/app/errors.js'
import { Empty, FullName, RoleSchema, UserId, UserSchema } from './schemas.js'

export const users = resource('/users', {
  GET: verb({
    summary: 'List users',
    description: 'All users of the organization, humans and bots; deactivated ones only when asked.',
    params: Type.Object({
      include_deactivated: Type.Boolean({ default: false })
    }),
    response: Type.Object({ members: Type.Array(UserSchema) }),
    handler: async ({ app, params }) => ({ members: await app.users.list(params.include_deactivated) })
  }),
  PUT: verb({
    summary: 'Create a user',
    description: 'Creates a human account (administrators only). An email already in use, in any letter case, is 409 ALREADY_EXISTS and changes nothing.',
    access: 'admin',
    params: Type.Object({
      email: Type.String({ format: 'email', maxLength: 254 }),
      password: Type.String({ minLength: 8, maxLength: 1024 }),
      full_name: FullName,
      role: Type.Optional(RoleSchema)
    }),
    response: Type.Object({ user_id: Type.Integer() }),
    handler: async ({ app, params, user }) => {
      const role = params.role ?? 'member'
      if (role === 'owner' && user.role !== 'owner') throw errors.forbidden('error.not_owner')
      const created = await app.users.doCreateUser({ email: params.email, password: params.password, full_name: params.full_name, role })
      return { user_id: created.user_id }
    }
  })
})

export const me = resource('/users/me', {
  GET: verb({
    summary: 'Get own user',
    description: 'The authenticated user.',
    response: Type.Object({ user: UserSchema }),
    handler: ({ user }) => ({ user })
  })
})

export const user = resource('/users/:user_id', {
  GET: verb({
    summary: 'Get a user',
    description: 'One user by id, active or deactivated.',
    params: Type.Object({ user_id: UserId }),
    response: Type.Object({ user: UserSchema }),
    handler: async ({ app, params }) => {
      const found = await app.users.get(params.user_id)
      if (found === undefined) throw errors.notFound('error.no_such_user')
      return { user: found }
    }
  }),
  PATCH: verb({
    summary: 'Update a user',
    description: 'Changes `full_name` (the user or an administrator) or `role` (administrators; the owner role only by an owner). The same edit twice succeeds twice.',
    params: Type.Object({
      user_id: UserId,
      full_name: Type.Optional(FullName),
      role: Type.Optional(RoleSchema)
    }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.users.doUpdateUser(user, params.user_id, { full_name: params.full_name, role: params.role })
      return {}
    }
  }),
  DELETE: verb({
    summary: 'Deactivate a user',
    description: 'Deactivates a user and their bots (administrators only). A second DELETE is 409 NO_CHANGE; the last owner cannot be deactivated.',
    access: 'admin',
    params: Type.Object({ user_id: UserId }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.users.doDeactivateUser(user, params.user_id)
      return {}
    }
  })
})

export const regenerateApiKey = resource('/users/me/api_key/regenerate', {
  POST: verb({
    summary: 'Regenerate own API key',
    description: 'Issues a new API key; the old one stops working at once.',
    response: Type.Object({ api_key: Type.String() }),
    handler: async ({ app, user }) => ({ api_key: await app.users.doRegenerateApiKey(user.user_id) })
  })
})
