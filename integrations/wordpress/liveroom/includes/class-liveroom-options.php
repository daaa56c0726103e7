<?php
/**
 * The plugin's stored settings.
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Reads and cleans the plugin's options. The API key lives in its own option,
 * never autoloaded and never printed into a page.
 */
final class Liveroom_Options {

	const SETTINGS = 'liveroom_settings';
	const API_KEY  = 'liveroom_api_key';

	/**
	 * Default values of every setting.
	 *
	 * @return array<string, mixed>
	 */
	public static function defaults(): array {
		return array(
			'server_url'    => '',
			'agent_id'      => '',
			'button_text'   => '',
			'position'      => 'right',
			'offline_mode'  => 'none',
			'offline_email' => '',
			'offline_page'  => '',
			'sitewide'      => false,
			'room_embed'    => true,
		);
	}

	/**
	 * The settings, with defaults filled in.
	 *
	 * @return array<string, mixed>
	 */
	public static function get(): array {
		$stored = get_option( self::SETTINGS, array() );
		return array_merge( self::defaults(), is_array( $stored ) ? $stored : array() );
	}

	/**
	 * The API key, or '' when none is saved. Only for server-side calls.
	 */
	public static function api_key(): string {
		return (string) get_option( self::API_KEY, '' );
	}

	/**
	 * Whether an agent id is a valid Liveroom id (1-64 letters, digits, - or _).
	 *
	 * @param string $id The id to check.
	 */
	public static function valid_id( string $id ): bool {
		return 1 === preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $id );
	}

	/**
	 * Cleans the settings form's values.
	 *
	 * @param mixed $input Raw values from the settings form.
	 * @return array<string, mixed>
	 */
	public static function sanitize( $input ): array {
		$input = is_array( $input ) ? wp_unslash( $input ) : array();
		$out   = self::defaults();

		$url = isset( $input['server_url'] ) ? trim( (string) $input['server_url'] ) : '';
		$url = esc_url_raw( $url, array( 'http', 'https' ) );
		$parts = '' !== $url ? wp_parse_url( $url ) : false;
		if ( '' !== $url && ( ! is_array( $parts ) || empty( $parts['host'] ) ) ) {
			add_settings_error( self::SETTINGS, 'server_url', __( 'The server URL must be an address such as https://meet.example.', 'liveroom' ) );
			$url = '';
		} elseif ( '' !== $url ) {
			// Only the origin (and an optional path prefix) of the server.
			$url = $parts['scheme'] . '://' . $parts['host'] . ( isset( $parts['port'] ) ? ':' . $parts['port'] : '' )
				. ( isset( $parts['path'] ) ? untrailingslashit( $parts['path'] ) : '' );
		} elseif ( ! empty( $input['server_url'] ) ) {
			add_settings_error( self::SETTINGS, 'server_url', __( 'The server URL must start with http:// or https://.', 'liveroom' ) );
		}
		$out['server_url'] = $url;

		$agent = isset( $input['agent_id'] ) ? trim( sanitize_text_field( (string) $input['agent_id'] ) ) : '';
		if ( '' !== $agent && ! self::valid_id( $agent ) ) {
			add_settings_error( self::SETTINGS, 'agent_id', __( 'The agent id must be 1 to 64 letters, digits, "-" or "_".', 'liveroom' ) );
			$agent = '';
		}
		$out['agent_id'] = $agent;

		$out['button_text'] = isset( $input['button_text'] ) ? mb_substr( sanitize_text_field( (string) $input['button_text'] ), 0, 60 ) : '';
		$out['position']    = ( isset( $input['position'] ) && 'left' === $input['position'] ) ? 'left' : 'right';

		$mode                 = isset( $input['offline_mode'] ) ? (string) $input['offline_mode'] : 'none';
		$out['offline_mode']  = in_array( $mode, array( 'none', 'email', 'page' ), true ) ? $mode : 'none';
		$out['offline_email'] = isset( $input['offline_email'] ) ? sanitize_email( (string) $input['offline_email'] ) : '';
		$out['offline_page']  = isset( $input['offline_page'] ) ? esc_url_raw( trim( (string) $input['offline_page'] ), array( 'http', 'https' ) ) : '';
		if ( 'email' === $out['offline_mode'] && '' === $out['offline_email'] ) {
			add_settings_error( self::SETTINGS, 'offline_email', __( 'Enter the e-mail address for offline messages (the agent\'s address in Liveroom).', 'liveroom' ) );
			$out['offline_mode'] = 'none';
		}
		if ( 'page' === $out['offline_mode'] && '' === $out['offline_page'] ) {
			add_settings_error( self::SETTINGS, 'offline_page', __( 'Enter the address of your contact page.', 'liveroom' ) );
			$out['offline_mode'] = 'none';
		}

		$out['sitewide']   = ! empty( $input['sitewide'] );
		$out['room_embed'] = ! empty( $input['room_embed'] );
		return $out;
	}

	/**
	 * Cleans the API key field: empty keeps the saved key, so the key never
	 * has to be sent back into the form; "remove" clears it.
	 *
	 * @param mixed $input Raw value from the settings form.
	 */
	public static function sanitize_key( $input ): string {
		// The settings API calls this before it runs the form's nonce check only
		// on options.php, which has checked the nonce already.
		// phpcs:ignore WordPress.Security.NonceVerification.Missing
		if ( ! empty( $_POST['liveroom_remove_key'] ) ) {
			return '';
		}
		$key = is_string( $input ) ? trim( wp_unslash( $input ) ) : '';
		if ( '' === $key ) {
			return self::api_key();
		}
		if ( 1 !== preg_match( '/^[A-Za-z0-9_-]{8,200}$/', $key ) ) {
			add_settings_error( self::SETTINGS, 'api_key', __( 'That does not look like a Liveroom API key (lrk_…); the saved key was kept.', 'liveroom' ) );
			return self::api_key();
		}
		return $key;
	}
}
