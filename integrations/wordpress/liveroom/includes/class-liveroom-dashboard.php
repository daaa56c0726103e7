<?php
/**
 * Dashboard widget: the agent's presence and today's rooms.
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Shows, on the WordPress dashboard, whether the agent is there, how many
 * visitors are on pages with the button, and the rooms of today (in the site's
 * time zone). Answers are cached for half a minute so the dashboard never
 * waits on Liveroom more than once in a while.
 */
final class Liveroom_Dashboard {

	const CACHE = 'liveroom_dashboard';

	/**
	 * Hooks the widget.
	 */
	public static function register(): void {
		add_action( 'wp_dashboard_setup', array( __CLASS__, 'setup' ) );
	}

	/**
	 * Adds the widget for users who manage the site.
	 */
	public static function setup(): void {
		if ( current_user_can( 'manage_options' ) ) {
			wp_add_dashboard_widget( 'liveroom_dashboard', __( 'Liveroom', 'liveroom' ), array( __CLASS__, 'render' ) );
		}
	}

	/**
	 * The agent overview and today's rooms, from the cache or the server.
	 *
	 * @return array{error?:string, agent?:array, rooms?:array}
	 */
	private static function data(): array {
		$cached = get_transient( self::CACHE );
		if ( is_array( $cached ) ) {
			return $cached;
		}
		$api = Liveroom_API::from_options();
		if ( ! $api->configured() ) {
			return array( 'error' => __( 'Not set up: enter the server URL and API key under Settings → Liveroom.', 'liveroom' ) );
		}
		$out   = array();
		$agent = $api->request( 'GET', '/api/v1/agent' );
		$rooms = is_wp_error( $agent ) ? $agent : $api->request( 'GET', '/api/v1/rooms' );
		if ( is_wp_error( $agent ) || is_wp_error( $rooms ) ) {
			$out['error'] = __( 'The Liveroom server cannot be reached right now.', 'liveroom' );
		} elseif ( 200 !== $agent['status'] || 200 !== $rooms['status'] ) {
			$out['error'] = __( 'The Liveroom server refused the API key. Use "Test connection" under Settings → Liveroom.', 'liveroom' );
		} else {
			$out['agent'] = $agent['body'];
			$out['rooms'] = self::today( is_array( $rooms['body']['rooms'] ?? null ) ? $rooms['body']['rooms'] : array() );
		}
		set_transient( self::CACHE, $out, isset( $out['error'] ) ? 10 : 30 );
		return $out;
	}

	/**
	 * Rooms scheduled today, or made today when they have no schedule,
	 * earliest first.
	 *
	 * @param array $rooms Rooms from GET /api/v1/rooms.
	 */
	private static function today( array $rooms ): array {
		$tz    = wp_timezone();
		$start = ( new DateTimeImmutable( 'today', $tz ) )->getTimestamp() * 1000;
		$end   = ( new DateTimeImmutable( 'tomorrow', $tz ) )->getTimestamp() * 1000;
		$out   = array();
		foreach ( $rooms as $r ) {
			if ( ! is_array( $r ) ) {
				continue;
			}
			$at = (int) ( $r['startsAtMs'] ?? 0 );
			if ( 0 === $at ) {
				$at = (int) ( $r['createdAtMs'] ?? 0 );
			}
			if ( $at >= $start && $at < $end ) {
				$r['at'] = $at;
				$out[]   = $r;
			}
		}
		usort(
			$out,
			static function ( $a, $b ) {
				return $a['at'] <=> $b['at'];
			}
		);
		return $out;
	}

	/**
	 * The widget.
	 */
	public static function render(): void {
		$d = self::data();
		echo '<div id="liveroom-dashboard">';
		if ( isset( $d['error'] ) ) {
			echo '<p class="liveroom-error">' . esc_html( $d['error'] ) . '</p></div>';
			return;
		}
		$a        = $d['agent'];
		$presence = (string) ( $a['presence'] ?? 'offline' );
		printf(
			'<p class="liveroom-presence" data-presence="%s"><strong>%s</strong> (%s): %s</p>',
			esc_attr( $presence ),
			esc_html( (string) ( $a['name'] ?? '' ) ),
			esc_html( (string) ( $a['id'] ?? '' ) ),
			esc_html( Liveroom_API::presence_label( $presence ) )
		);
		printf(
			'<p class="liveroom-visitors">%s</p>',
			esc_html(
				sprintf(
					/* translators: 1: number of visitors, 2: number of waiting requests. */
					__( 'Visitors on pages with the button: %1$d. Waiting for an answer: %2$d.', 'liveroom' ),
					(int) ( $a['visitors'] ?? 0 ),
					(int) ( $a['waiting'] ?? 0 )
				)
			)
		);
		echo '<h3>' . esc_html__( 'Today\'s rooms', 'liveroom' ) . '</h3>';
		if ( empty( $d['rooms'] ) ) {
			echo '<p class="liveroom-no-rooms">' . esc_html__( 'No rooms today.', 'liveroom' ) . '</p></div>';
			return;
		}
		echo '<ul class="liveroom-rooms">';
		foreach ( $d['rooms'] as $r ) {
			printf(
				'<li data-room-id="%s">%s · %s · <a href="%s" target="_blank" rel="noopener">%s</a></li>',
				esc_attr( (string) $r['id'] ),
				esc_html( wp_date( get_option( 'time_format' ), intdiv( (int) $r['at'], 1000 ) ) ),
				esc_html( '' !== (string) ( $r['visitorName'] ?? '' ) ? (string) $r['visitorName'] : (string) $r['id'] ),
				esc_url( (string) ( $r['visitorUrl'] ?? '' ) ),
				esc_html__( 'visitor link', 'liveroom' )
			);
		}
		echo '</ul></div>';
	}
}
