// Object schemas shared by several resources (SPEC §6), so every route answers the same shapes.
import { Type } from 'typebox'

export const RoleSchema = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member'), Type.Literal('guest')])

export const UserSchema = Type.Object({
  user_id: Type.Integer(),
  email: Type.String(),
  full_name: Type.String(),
  role: RoleSchema,
  is_admin: Type.Boolean(),
  is_bot: Type.Boolean(),
  is_active: Type.Boolean(),
  date_joined: Type.Integer({ description: 'Unix seconds' }),
  avatar_url: Type.String(),
  bot_owner_id: Type.Optional(Type.Integer()),
  bot_type: Type.Optional(Type.String())
})

export const Empty = Type.Object({})

export const UserId = Type.Integer({ minimum: 1, description: 'A user id' })
export const FullName = Type.String({ minLength: 1, maxLength: 100 })
